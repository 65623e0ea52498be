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
