//! Reading an identity's commits and checkpoints from the bucket.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use rta_core::{Error, Result};

use super::cache::SegmentCache;
use super::commit::{Commit, SegRef};
use super::Bucket;

/// Sequence number of a `log/` or `ckpt/` object name.
fn seq_of(path: &Path) -> Option<u64> {
    path.filename()?.parse().ok()
}

/// Name of commit `seq`, relative to the identity's prefix.
pub(crate) fn commit_name(seq: u64) -> String {
    format!("log/{seq:020}")
}

/// Reads the commits from `next` on (all when `next` is 0), in order, up
/// to the first gap. Their objects go into `cache` (they may hold data).
pub(crate) async fn tail(
    bucket: &Bucket,
    cache: &SegmentCache,
    prefix: &str,
    next: u64,
) -> Result<Vec<(u64, Commit)>> {
    let dir = Path::from(format!("{prefix}log"));
    let listing = if next == 0 {
        bucket.store().list(Some(&dir))
    } else {
        let after = Path::from(format!("{prefix}{}", commit_name(next - 1)));
        bucket.store().list_with_offset(Some(&dir), &after)
    };
    let metas: Vec<object_store::ObjectMeta> = listing
        .try_collect()
        .await
        .map_err(|e| bucket.error("listing commits", &e))?;
    let mut seqs: Vec<(u64, Path)> = metas
        .into_iter()
        .filter_map(|m| seq_of(&m.location).map(|s| (s, m.location)))
        .filter(|(s, _)| *s >= next)
        .collect();
    seqs.sort_by_key(|(s, _)| *s);
    // The unbroken run of sequence numbers from `next` on.
    let chain: Vec<(u64, Path)> = (next..)
        .zip(seqs)
        .take_while(|(want, (s, _))| s == want)
        .map(|(_, sp)| sp)
        .collect();
    futures::stream::iter(chain.into_iter().map(|(s, p)| async move {
        let data = bucket
            .get_opt(&p)
            .await?
            .ok_or_else(|| Error::Internal(format!("commit {p} vanished while being read")))?;
        let c = Commit::decode(&data, &format!("commit {p}"))?;
        if !c.inline.is_empty() {
            cache.insert(p.as_ref(), data);
        }
        Ok::<_, Error>((s, c))
    }))
    .buffered(8)
    .try_collect()
    .await
}

/// An identity as loaded: its segments, its index, the next commit number.
#[derive(Default)]
pub(crate) struct Loaded {
    pub segs: BTreeMap<u64, SegRef>,
    pub index: Vec<u8>,
    pub next_seq: u64,
}

impl Loaded {
    pub fn apply(&mut self, c: Commit) {
        for s in c.segments {
            self.segs.insert(s.start, s);
        }
        self.index.extend_from_slice(&c.index);
    }

    /// End of the committed data log.
    pub fn end(&self) -> u64 {
        self.segs
            .values()
            .next_back()
            .map_or(0, |s| s.start + s.len)
    }
}

/// Loads an identity: the latest checkpoint and the commits after it.
/// `None` when the identity has no commit.
pub(crate) async fn load(
    bucket: Bucket,
    cache: std::sync::Arc<SegmentCache>,
    prefix: String,
) -> Result<Option<Loaded>> {
    let ckdir = Path::from(format!("{prefix}ckpt"));
    let metas: Vec<object_store::ObjectMeta> = bucket
        .store()
        .list(Some(&ckdir))
        .try_collect()
        .await
        .map_err(|e| bucket.error("listing checkpoints", &e))?;
    let latest = metas
        .iter()
        .filter_map(|m| seq_of(&m.location).map(|s| (s, m.location.clone())))
        .max_by_key(|(s, _)| *s);
    let mut out = Loaded::default();
    if let Some((s, p)) = latest {
        if let Some(data) = bucket.get_opt(&p).await? {
            out.apply(Commit::decode(&data, &format!("checkpoint {p}"))?);
            out.next_seq = s + 1;
        }
    }
    for (s, c) in tail(&bucket, &cache, &prefix, out.next_seq).await? {
        out.apply(c);
        out.next_seq = s + 1;
    }
    Ok((out.next_seq > 0).then_some(out))
}
