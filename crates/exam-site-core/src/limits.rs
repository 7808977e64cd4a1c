//! Every limit the engine enforces, in one place. The shell's own limits (`site-server`'s
//! `limits.rs`) and the frame limits (`exam_protocol::frame`) are checked against these by tests.

/// Login throttling: after this many wrong tries, each further try waits longer.
pub const LOGIN_FREE_TRIES: u32 = 3;
/// Longest wait imposed after wrong tries.
pub const LOGIN_BACKOFF_MS_MAX: u64 = 60_000;
/// Most candidate connections the site serves at once; the shell refuses more at the door.
pub const CONNECTIONS_MAX: usize = 2_000;
/// Longest machine name a `Hello` may carry.
pub const MACHINE_NAME_BYTES_MAX: usize = 64;
/// Longest admission or ID number a `Login` may carry.
pub const LOGIN_FIELD_BYTES_MAX: usize = 64;
/// Most answer changes (stored or refused) one attempt may make: one every 1.5 s for 8 hours.
pub const CHANGES_PER_ATTEMPT_MAX: u64 = 20_000;
/// Most bytes of answer changes one attempt may store (an essay rewritten a thousand times fits).
pub const ANSWER_BYTES_PER_ATTEMPT_MAX: u64 = 16 * 1024 * 1024;
/// Answer changes an attempt may send at once (a journal resent after a long outage fits).
pub const SAVE_BURST: u32 = 500;
/// Answer changes an attempt may send per second, sustained (a person clicks far slower).
pub const SAVES_PER_SEC: u32 = 10;
/// How long a machine is told to wait when the store is in trouble.
pub const STORE_TROUBLE_RETRY_MS: u64 = 3_000;
