//! `Store` (`File` | `Aws`) and the S3 bucket options of the store-backed
//! services, with the toolkit's names.
//!
//! ```
//! use rta_service::options::{DataServiceOptions, Storage};
//!
//! let parsed = DataServiceOptions::parser()
//!     .parse_from(["--Store", "Aws", "--AwsS3Bucket", "rta-data"], Vec::new())?;
//! let opts = DataServiceOptions::from_parsed(parsed)?.expect("not --help");
//! assert_eq!(opts.storage, Storage::Aws { bucket: "rta-data".into() });
//! # Ok::<(), rta_service::Error>(())
//! ```

use std::path::PathBuf;

use super::parser::OptionsParser;
use super::values::Options;
use crate::{Error, Result};

/// Where a service keeps its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// `Store=File`: a local directory.
    File(PathBuf),
    /// `Store=Aws`: an S3-compatible bucket. Endpoint, region and
    /// credentials come from the standard AWS variables (`AWS_ENDPOINT_URL`,
    /// `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_ALLOW_HTTP`).
    Aws {
        /// The bucket.
        bucket: String,
    },
}

/// `Store` is `Aws` (ignoring case); `File` or absent is `false`.
pub(crate) fn is_aws(raw: &Options) -> Result<bool> {
    let store = raw.get("Store").unwrap_or("File");
    if store.eq_ignore_ascii_case("File") {
        Ok(false)
    } else if store.eq_ignore_ascii_case("Aws") {
        Ok(true)
    } else {
        Err(Error::option(
            "Store",
            format!("{store:?} is not a store; use File or Aws"),
        ))
    }
}

/// The bucket option `key`, required when `Store=Aws`.
pub(crate) fn bucket(raw: &Options, key: &str) -> Result<String> {
    match raw.get(key).map(str::trim) {
        Some(b) if !b.is_empty() => Ok(b.to_string()),
        _ => Err(Error::option(
            key,
            "required with Store=Aws (the S3 bucket name)",
        )),
    }
}

/// The storage of a service with one store: `Store`, `AwsS3Bucket`, and
/// `file` for `Store=File`.
pub(crate) fn storage(raw: &Options, file: PathBuf) -> Result<Storage> {
    if is_aws(raw)? {
        Ok(Storage::Aws {
            bucket: bucket(raw, "AwsS3Bucket")?,
        })
    } else {
        Ok(Storage::File(file))
    }
}

/// Declares `Store` and `AwsS3Bucket` (and the toolkit's DynamoDB table
/// option `dynamo`, accepted and unused: the index lives in the bucket).
pub(crate) fn declare(parser: OptionsParser, dynamo: Option<&str>) -> OptionsParser {
    let parser = parser
        .option(
            "Store",
            "KIND",
            "Storage: File (a directory) or Aws (an S3-compatible bucket; endpoint, \
             region and credentials from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, \
             AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP)",
            Some("File"),
        )
        .option("AwsS3Bucket", "BUCKET", "S3 bucket (Store=Aws)", None);
    match dynamo {
        Some(name) => parser.option(
            name,
            "TABLE",
            "Accepted for toolkit compatibility and unused: the index is kept in the S3 bucket",
            None,
        ),
        None => parser,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{RtaServerOptions, ServerBuckets, StoreService, StoreServiceOptions};

    fn store_svc(svc: StoreService, args: &[&str]) -> Result<StoreServiceOptions> {
        let parsed =
            StoreServiceOptions::parser(svc).parse_from(args.iter().copied(), Vec::new())?;
        StoreServiceOptions::from_parsed(parsed).map(|o| o.expect("not --help"))
    }

    fn server(env: &[(&str, &str)]) -> Result<RtaServerOptions> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let parsed = RtaServerOptions::parser().parse_from(Vec::<String>::new(), env)?;
        RtaServerOptions::from_parsed(parsed).map(|o| o.expect("not --help"))
    }

    #[test]
    fn store_options_of_the_config_and_schema_mapping_services() {
        for svc in [StoreService::Configs, StoreService::SchemaMappings] {
            let o = store_svc(svc, &["--data-dir", "/d"]).unwrap();
            assert_eq!(o.storage, Some(Storage::File("/d".into())));
            let o = store_svc(svc, &["--Store", "Aws", "--AwsS3Bucket", "cfg"]).unwrap();
            assert_eq!(
                o.storage,
                Some(Storage::Aws {
                    bucket: "cfg".into()
                })
            );
            let e = store_svc(svc, &["--Store", "Aws"]).unwrap_err().to_string();
            assert!(e.contains("AwsS3Bucket"), "{e}");
            let e = store_svc(svc, &["--Store", "Tape"])
                .unwrap_err()
                .to_string();
            assert!(e.contains("Tape"), "{e}");
        }
        let o = store_svc(StoreService::Sessions, &[]).unwrap();
        assert_eq!(o.storage, None);
    }

    #[test]
    fn store_options_of_rta_server() {
        assert_eq!(server(&[]).unwrap().aws, None);
        let o = server(&[
            ("RTA_STORE", "Aws"),
            ("RTA_AwsS3ConfigsBucket", "c"),
            ("RTA_AwsS3DataBucket", "d"),
            ("RTA_AwsDynamoDataTable", "ignored"),
        ])
        .unwrap();
        assert_eq!(
            o.aws,
            Some(ServerBuckets {
                configs: "c".into(),
                data: "d".into()
            })
        );
        let e = server(&[("RTA_Store", "Aws"), ("RTA_AwsS3ConfigsBucket", "c")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("AwsS3DataBucket"), "{e}");
    }
}
