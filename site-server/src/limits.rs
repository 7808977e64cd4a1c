//! Every limit of the site's shell, in one place. The engine's own limits are in
//! `exam_site_core::limits`; a test checks that the layers agree.

use std::time::Duration;

pub use exam_site_core::limits::CONNECTIONS_MAX;

/// Connections one network address may hold at once (a machine reconnecting briefly has two).
/// Loopback (the server's own machine: demos, simulations) is not limited.
pub const CONNECTIONS_PER_ADDRESS_MAX: usize = 4;
/// TLS handshakes in progress at once; more wait their turn (first come, first served).
pub const HANDSHAKES_MAX: usize = 256;
/// How long a new connection may wait for a handshake slot before it is refused: well inside a
/// candidate machine's connect timeout, so a burst of logins queues instead of backing off.
pub const HANDSHAKE_QUEUE_WAIT: Duration = Duration::from_secs(3);
/// A new connection must open its stream and say `Hello` within this time.
pub const HELLO_DEADLINE: Duration = Duration::from_secs(10);
/// A connection that has not logged in by then is closed (the machine reconnects by itself):
/// no one holds a connection slot without a candidate for long.
pub const LOGIN_DEADLINE: Duration = Duration::from_secs(600);
/// Frames queued for one candidate machine; a machine that falls this far behind is disconnected.
pub const OUTBOUND_QUEUE_MAX: usize = 512;
/// Events queued from all connections to the engine.
pub const EVENT_QUEUE_MAX: usize = 8_192;
/// Batches waiting for the writer thread.
pub const WRITER_QUEUE_MAX: usize = 64;
/// Most store operations committed in one transaction.
pub const GROUP_COMMIT_OPS_MAX: usize = 4_096;
/// Saves per connection whose arrival time is kept to measure their acknowledgement latency
/// (more in flight are acknowledged all the same, only not measured).
pub const SAVE_ARRIVALS_TRACKED_MAX: usize = 1_024;
/// Acknowledgement latencies kept per status interval for its percentiles.
pub const ACK_LATENCIES_KEPT_MAX: usize = 200_000;
/// A group commit that takes this long is logged as a warning.
pub const SLOW_COMMIT_MS: u64 = 200;
/// Store operations not yet committed beyond which the site stops taking answers (degraded)
/// until the writer catches up.
pub const STORE_BACKLOG_OPS_MAX: usize = 50_000;
/// Candidate papers kept encoded for resending (one per order), the most recent ones: a machine
/// that reconnects soon after its login gets its paper without encoding it again. Each order is
/// one candidate's, so a larger cache would cost about 10 KiB per candidate for the whole exam
/// to save a fraction of a millisecond per reconnect.
pub const PAPER_FRAMES_CACHED_MAX: usize = 64;
/// Image frames kept encoded, the sets of images most recently sent (at most [`FRAME_BYTES_MAX`]
/// each, so at most 64 MiB).
/// Candidates of a fixed paper all share one; papers drawn from a pool each show their own.
///
/// [`FRAME_BYTES_MAX`]: exam_protocol::frame::FRAME_BYTES_MAX
pub const MEDIA_FRAMES_CACHED_MAX: usize = 8;
/// How often running clocks are persisted.
pub const CHECKPOINT_MS: u64 = 5_000;
/// How often connected candidates get a fresh clock reading.
pub const CLOCK_PUSH_MS: u64 = 30_000;
/// How often the status file is rewritten and the disk checked.
pub const STATUS_EVERY: Duration = Duration::from_secs(2);
/// Free space on the data disk below which the site warns (well before it is full).
pub const DISK_WARN_FREE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Free space below which the warning is an error: answers will stop being stored soon.
pub const DISK_CRITICAL_FREE_BYTES: u64 = 256 * 1024 * 1024;
