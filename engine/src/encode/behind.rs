//! Write-behind: a compaction's or load's writing (Parquet encoding, bucket files, the kernel's
//! copy into the page cache) runs on its own thread while the caller reads, assigns and codes
//! the next rows, so a two-core machine keeps both cores busy through a build. The hand-off
//! has no buffer: the caller's next item waits until the writer takes it, so at most one
//! item is being written and one prepared (memory grows by one chunk of rows, not with the
//! input).

use std::sync::mpsc::sync_channel;

use nestdb_storage::StorageError;

use crate::error::Result;

/// Runs `body` on this thread, handing each item it sends to `apply` on a writer thread that
/// owns `state`, in order. Returns `state` and `body`'s value once every item was applied.
///
/// If `apply` fails, the writer stops, `body`'s next send fails, and that first failure of
/// `apply` is returned. If `body` fails, the items it sent are still applied, then `state` is
/// dropped (a segment or bucket writer removes its unfinished files when dropped) and `body`'s
/// error is returned. A panic on the writer thread is resumed on this one.
pub fn behind<S, T, R>(
    state: S,
    apply: impl Fn(&mut S, T) -> Result<()> + Send,
    body: impl FnOnce(&mut dyn FnMut(T) -> Result<()>) -> Result<R>,
) -> Result<(S, R)>
where
    S: Send,
    T: Send,
{
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<T>(0);
        let writer = scope.spawn(move || -> Result<S> {
            let mut state = state;
            for item in rx {
                apply(&mut state, item)?;
            }
            Ok(state)
        });
        let mut send = |item: T| -> Result<()> {
            tx.send(item).map_err(|_| {
                // replaced by the writer's own error below
                StorageError::corrupt("write-behind", "the writer thread stopped").into()
            })
        };
        let r = body(&mut send);
        drop(tx);
        let written = match writer.join() {
            Ok(w) => w,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        match (written, r) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e),
            (Ok(s), Ok(r)) => Ok((s, r)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(msg: &str) -> crate::error::Error {
        StorageError::corrupt("test", msg).into()
    }

    #[test]
    fn every_item_is_applied_in_order() {
        let (got, r) = behind(
            Vec::new(),
            |v: &mut Vec<u32>, x: u32| {
                v.push(x);
                Ok(())
            },
            |send| {
                for x in 0..1000 {
                    send(x)?;
                }
                Ok(7)
            },
        )
        .expect("runs");
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        assert_eq!(r, 7);
    }

    /// Regression: the writer's failure must be the one reported, not the closed channel the
    /// caller then runs into.
    #[test]
    fn a_writer_failure_stops_the_body_and_is_the_error_reported() {
        let mut sent = 0;
        let e = behind(
            (),
            |_: &mut (), x: u32| {
                if x == 3 {
                    Err(fail("disk full"))
                } else {
                    Ok(())
                }
            },
            |send| {
                for x in 0..1_000_000 {
                    send(x)?;
                    sent += 1;
                }
                Ok(())
            },
        )
        .expect_err("fails");
        assert!(e.to_string().contains("disk full"), "{e}");
        assert!(sent < 1_000_000, "the body stopped early");
    }

    #[test]
    fn a_body_failure_drops_the_state_after_applying_what_was_sent() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        #[derive(Debug)]
        struct Counted(Arc<AtomicUsize>, usize);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.store(self.1 + 1000, Ordering::SeqCst);
            }
        }
        let seen = Arc::new(AtomicUsize::new(0));
        let e = behind(
            Counted(seen.clone(), 0),
            |c: &mut Counted, _: u32| {
                c.1 += 1;
                Ok(())
            },
            |send| {
                send(1)?;
                send(2)?;
                Err::<(), _>(fail("read failed"))
            },
        )
        .expect_err("fails");
        assert!(e.to_string().contains("read failed"), "{e}");
        assert_eq!(
            seen.load(Ordering::SeqCst),
            1002,
            "both applied, then dropped"
        );
    }
}
