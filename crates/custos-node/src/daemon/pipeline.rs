//! The one path every job takes, whatever its kind:
//!
//! 1. **decode** the server's job once into a [`CheckedJob`];
//! 2. **journal** it as running (write-ahead; also a job refused below);
//! 3. **check** its committee against the pinned roster ([`Seat`]);
//! 4. **authorize** it ([`authorize`]: the committee as governance records
//!    it, then a decision for every kind — an admin's order for aux info
//!    and keygen; a signing planned by the node from the request and its
//!    own share, under a majority checkpoint);
//! 5. **claim** durably what it consumes (a signing's request id and the
//!    outpoint values it states) and hand over its material;
//! 6. **run** the protocol on a blocking thread;
//! 7. **store** what it made, and journal the outcome.
//!
//! Each step takes what the one before produced, so none can be skipped.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Duration;

use custos_protocol::control::{Job, NodeMessage, Outcome};
use custos_tss::progress::{Progress, ProgressEvent};
use rand_core::OsRng;
use tokio::sync::mpsc;

use super::authorize::{authorize, KeygenSlot};
use super::error::JobFailure;
use super::node::Jobs;
use super::node::Node;
use super::{journal, material};
use crate::checked::{CheckedJob, Seat};
use crate::job::{run_checked, Inbound, JobInput, JobOutput};

/// Deadline per message in aux-info sessions: covers a peer that is still
/// generating its safe primes.
const AUX_MESSAGE_TIMEOUT: Duration = Duration::from_secs(600);

/// The connection's writer stopped taking frames (the text is tokio's, as
/// the server has always seen it in "aborted: …").
#[derive(Debug, thiserror::Error)]
#[error("channel closed")]
struct WriterGone;

/// Runs `job` through every step and reports its outcome to the server.
pub(super) async fn handle_job(
    node: Arc<Node>,
    job: Job,
    rx: std_mpsc::Receiver<Inbound>,
    out: mpsc::Sender<NodeMessage>,
    jobs: Jobs,
) {
    let session = job.session;
    let decoded = CheckedJob::decode(&job.kind);
    let request = decoded.as_ref().ok().and_then(CheckedJob::request);
    let outcome = match journal::begin(&node, &job, request).await {
        Err(e) => {
            eprintln!("{}: journal: {e}", node.config.name);
            failed(JobFailure::Journal(e))
        }
        Ok(seq) => {
            let outcome = match decoded {
                Ok(kind) => steps(&node, &job, kind, rx, &out)
                    .await
                    .unwrap_or_else(failed),
                Err(e) => failed(e.into()),
            };
            journal::end(&node, seq, &outcome).await;
            outcome
        }
    };
    jobs.lock().await.remove(&session);
    let _ = out.send(NodeMessage::Done { session, outcome }).await;
}

fn failed(e: JobFailure) -> Outcome {
    Outcome::Failed {
        error: e.to_string(),
        culprits: e.culprits(),
    }
}

/// Steps 3 to 7 of a decoded, journalled job.
async fn steps(
    node: &Arc<Node>,
    job: &Job,
    kind: CheckedJob,
    rx: std_mpsc::Receiver<Inbound>,
    out: &mpsc::Sender<NodeMessage>,
) -> Result<Outcome, JobFailure> {
    let c = &node.config;
    let seat = Seat::check(job, &kind, &node.keys, &c.members, c.threshold)?;
    // Held until the key is stored or the job failed.
    let _slot = match &kind {
        CheckedJob::Keygen { order } => Some(KeygenSlot::take(node, &order.order.wallet)?),
        _ => None,
    };
    let authorized = authorize(node, &job.committee, &kind).await?;
    let input = material::claim(node, job.session, &kind, authorized, out).await?;
    let output = run(node, seat, kind.clone(), input, rx, out).await?;
    material::store(node, &kind, output).await
}

/// Runs the protocol on a blocking thread, relaying its frames and (for aux
/// info) its progress to the server.
async fn run(
    node: &Arc<Node>,
    seat: Seat,
    kind: CheckedJob,
    input: JobInput,
    rx: std_mpsc::Receiver<Inbound>,
    out: &mpsc::Sender<NodeMessage>,
) -> Result<JobOutput, JobFailure> {
    let worker = node.clone();
    let send_out = out.clone();
    let progress_out = out.clone();
    let session = seat.session;
    let aux_info = matches!(kind, CheckedJob::AuxInfo { .. });
    let ran = tokio::task::spawn_blocking(move || {
        let c = &worker.config;
        // Aux-info peers may still be generating safe primes (minutes).
        let timeout = if aux_info {
            Duration::from_millis(c.message_timeout_ms).max(AUX_MESSAGE_TIMEOUT)
        } else {
            Duration::from_millis(c.message_timeout_ms)
        };
        let send = |frame| {
            send_out
                .blocking_send(NodeMessage::Relay { frame })
                .map_err(|_| WriterGone)
        };
        let progress: Option<Box<dyn Progress>> = if aux_info {
            Some(Box::new(move |e: ProgressEvent| {
                let note = match e {
                    ProgressEvent::Round { number, name } => match name {
                        Some(n) => format!("aux info round {number} ({n})"),
                        None => format!("aux info round {number}"),
                    },
                    ProgressEvent::Stage(s) => format!("aux info: {s}"),
                    ProgressEvent::Finished => "aux info done".into(),
                };
                // Progress is best effort: never block the protocol on it.
                let _ = progress_out.try_send(NodeMessage::Progress { session, note });
            }))
        } else {
            None
        };
        run_checked(
            &seat,
            &kind,
            &worker.keys,
            input,
            rx,
            send,
            timeout,
            progress,
            &mut OsRng,
        )
    })
    .await?;
    Ok(ran?)
}
