//! The CA step and the server certificate's renewal, around [`exam_net::identity`].
//!
//! The running server reads only the CA certificate and `server.pem`. The CA key is sealed under
//! the operator's passphrase in the CA directory (`<data>/ca` unless `--ca-dir` says where it was
//! moved, e.g. a USB stick) and unlocked only to issue: when a site is made, by `renew-cert`, by
//! `secure-ca`, and by the server itself when its certificate is due and it was given the
//! passphrase ([`CertRenewer`]).
//!
//! The passphrase comes from, in order: `--passphrase-file` / `--ca-passphrase-file`, the
//! environment variable [`PASSPHRASE_ENV`], a demo site's [`DEMO_PASSPHRASE_FILE`] in the CA
//! directory, and (for the CA step commands only) a prompt on the terminal.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use exam_crypto::passphrase::Passphrase;
use exam_net::identity::{self, RenewalState, SiteCa, SiteIdentity};
use zeroize::Zeroizing;

/// The environment variable that may hold the CA passphrase.
pub const PASSPHRASE_ENV: &str = "EXAM_SITE_CA_PASSPHRASE";
/// A demo site's CA passphrase, stored in its CA directory so the demo renews itself without
/// anyone typing. Only `site-server demo` writes it; a real site never has one.
pub const DEMO_PASSPHRASE_FILE: &str = "DEMO-ONLY-passphrase";
/// Fewest characters of a passphrase chosen for a new or newly sealed CA key.
pub const NEW_PASSPHRASE_CHARS_MIN: usize = 12;
/// Largest passphrase file read.
pub const PASSPHRASE_FILE_BYTES_MAX: u64 = 4096;

/// Whether the CA step may ask on the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// A server: never waits for a person.
    Never,
    /// Ask once for an existing passphrase.
    Existing,
    /// Ask twice for a new passphrase.
    New,
}

/// The CA directory: `--ca-dir` if given, else `<data>/ca`.
pub fn ca_dir(data_dir: &Path, ca_dir: Option<&Path>) -> PathBuf {
    ca_dir.map_or_else(|| identity::default_ca_dir(data_dir), Path::to_path_buf)
}

/// Reads a passphrase file: its text without one trailing line break.
pub fn read_passphrase_file(path: &Path) -> anyhow::Result<Passphrase> {
    let f = std::fs::File::open(path)
        .with_context(|| format!("could not read the passphrase file {}", path.display()))?;
    let mut text = Zeroizing::new(String::new());
    f.take(PASSPHRASE_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .with_context(|| {
            format!(
                "could not read the passphrase file {} (it must be UTF-8 text)",
                path.display()
            )
        })?;
    anyhow::ensure!(
        text.len() as u64 <= PASSPHRASE_FILE_BYTES_MAX,
        "the passphrase file {} is larger than {PASSPHRASE_FILE_BYTES_MAX} bytes; check that the right file was given",
        path.display()
    );
    let line = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text.as_str())
        .to_owned();
    Passphrase::new(line).with_context(|| format!("in the passphrase file {}", path.display()))
}

/// Finds the passphrase: `file`, then [`PASSPHRASE_ENV`], then a demo site's passphrase file in
/// `ca_dir`, then the terminal as `prompt` allows. `None` when none of them has one.
pub fn find_passphrase(
    file: Option<&Path>,
    ca_dir: &Path,
    prompt: Prompt,
) -> anyhow::Result<Option<Passphrase>> {
    if let Some(file) = file {
        return read_passphrase_file(file).map(Some);
    }
    if let Some(text) = std::env::var_os(PASSPHRASE_ENV) {
        let text = text
            .into_string()
            .map_err(|_| anyhow::anyhow!("{PASSPHRASE_ENV} is not valid text"))?;
        return Passphrase::new(text)
            .with_context(|| format!("in the environment variable {PASSPHRASE_ENV}"))
            .map(Some);
    }
    let demo = ca_dir.join(DEMO_PASSPHRASE_FILE);
    if prompt != Prompt::New && demo.exists() {
        tracing::warn!(
            file = %demo.display(),
            "this is a demo site: its CA passphrase is stored beside its key"
        );
        return read_passphrase_file(&demo).map(Some);
    }
    if prompt == Prompt::Never || !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let ask = |text: &str| -> anyhow::Result<Passphrase> {
        let typed = rpassword::prompt_password(text).context("could not read from the terminal")?;
        Ok(Passphrase::new(typed)?)
    };
    match prompt {
        Prompt::Never => Ok(None),
        Prompt::Existing => ask("site CA passphrase: ").map(Some),
        Prompt::New => {
            let first = ask(&format!(
                "new site CA passphrase (at least {NEW_PASSPHRASE_CHARS_MIN} characters): "
            ))?;
            let again = ask("the same passphrase again: ")?;
            anyhow::ensure!(
                first.expose() == again.expose(),
                "the two passphrases differ; nothing was changed — run the command again"
            );
            Ok(Some(first))
        }
    }
}

fn no_passphrase(command: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "no CA passphrase: give --passphrase-file FILE, set {PASSPHRASE_ENV}, or run `site-server {command}` on a terminal to type it"
    )
}

/// Refuses a passphrase too short to protect a new CA key.
pub fn check_new_passphrase(p: &Passphrase) -> anyhow::Result<()> {
    anyhow::ensure!(
        p.chars() >= NEW_PASSPHRASE_CHARS_MIN,
        "the passphrase has {} characters; choose one of at least {NEW_PASSPHRASE_CHARS_MIN} (a few unrelated words are easy to type and hard to guess)",
        p.chars()
    );
    Ok(())
}

/// `site-server renew-cert`: issues a new server certificate from the CA and writes it with its
/// key into the data directory, atomically. Returns the new identity.
pub fn renew_cert(
    data_dir: &Path,
    ca_dir_arg: Option<&Path>,
    passphrase_file: Option<&Path>,
    now: SystemTime,
) -> anyhow::Result<SiteIdentity> {
    let current = SiteIdentity::load(data_dir)
        .with_context(|| format!("the site identity in {}", data_dir.display()))?;
    let ca_dir = ca_dir(data_dir, ca_dir_arg);
    // Ask for no passphrase when the key is not there (a USB stick not plugged in).
    if !ca_dir.join(identity::CA_KEY_FILE).exists() {
        return Err(exam_net::IdentityError::NoCaKey { dir: ca_dir }.into());
    }
    let passphrase = find_passphrase(passphrase_file, &ca_dir, Prompt::Existing)?
        .ok_or_else(|| no_passphrase("renew-cert"))?;
    let ca = SiteCa::unlock(data_dir, &ca_dir, &passphrase)?;
    let renewed = ca.renew(data_dir, now)?;
    anyhow::ensure!(
        renewed.fingerprint() == current.fingerprint(),
        "internal error: the renewed certificate has another CA"
    );
    Ok(renewed)
}

/// `site-server secure-ca`: seals the plaintext CA key of a data directory made by an earlier
/// site-server under a new passphrase, in the CA directory, and issues a short-lived server
/// certificate. The fingerprint stays the same.
pub fn secure_ca(
    data_dir: &Path,
    ca_dir_arg: Option<&Path>,
    passphrase_file: Option<&Path>,
    now: SystemTime,
) -> anyhow::Result<SiteIdentity> {
    let legacy = data_dir.join(identity::LEGACY_CA_KEY_FILE);
    anyhow::ensure!(
        legacy.exists(),
        "{} holds no plaintext CA key ({}): there is nothing to secure",
        data_dir.display(),
        identity::LEGACY_CA_KEY_FILE
    );
    let ca_dir = ca_dir(data_dir, ca_dir_arg);
    let passphrase = find_passphrase(passphrase_file, &ca_dir, Prompt::New)?
        .ok_or_else(|| no_passphrase("secure-ca"))?;
    check_new_passphrase(&passphrase)?;
    Ok(identity::secure_legacy_ca(
        data_dir,
        &ca_dir,
        &passphrase,
        now,
    )?)
}

/// Makes a demo site's identity: a CA sealed under a random passphrase that is stored, clearly
/// named, in the CA directory.
pub fn create_demo_identity(
    data_dir: &Path,
    site_name: &str,
    now: SystemTime,
) -> anyhow::Result<SiteIdentity> {
    let ca_dir = identity::default_ca_dir(data_dir);
    exam_fs::ensure_private_dir(data_dir)?;
    exam_fs::ensure_private_dir(&ca_dir)?;
    let passphrase = write_demo_passphrase(&ca_dir)?;
    Ok(SiteIdentity::create(
        data_dir,
        &ca_dir,
        site_name,
        &passphrase,
        now,
    )?)
}

fn write_demo_passphrase(ca_dir: &Path) -> anyhow::Result<Passphrase> {
    let passphrase = Passphrase::random()?;
    let text = Zeroizing::new(format!("{}\n", passphrase.expose()));
    exam_fs::write_private_atomic(&ca_dir.join(DEMO_PASSPHRASE_FILE), text.as_bytes())?;
    Ok(passphrase)
}

/// Moves a demo site of the earlier layout (plaintext CA key) to a sealed CA key under a random
/// demo passphrase. Only for `site-server demo`: a real site's admin chooses the passphrase with
/// `site-server secure-ca`.
pub fn secure_demo_ca(data_dir: &Path, now: SystemTime) -> anyhow::Result<SiteIdentity> {
    let ca_dir = identity::default_ca_dir(data_dir);
    exam_fs::ensure_private_dir(&ca_dir)?;
    let passphrase = write_demo_passphrase(&ca_dir)?;
    let id = identity::secure_legacy_ca(data_dir, &ca_dir, &passphrase, now)?;
    tracing::warn!(
        data = %data_dir.display(),
        "the demo site's CA key was stored unencrypted; it is now sealed in {}",
        ca_dir.display()
    );
    Ok(id)
}

/// Keeps the server certificate current: picks up one renewed on disk (by `renew-cert`) and, when
/// it was given the CA passphrase, renews the certificate itself when it is due.
///
/// The server calls [`CertRenewer::check`] at start and every
/// [`identity::RENEWAL_CHECK_INTERVAL`]; when it returns a new identity the server switches
/// to it with `endpoint.set_server_config(Some(exam_net::server_config(&new, ALPN)?))`.
pub struct CertRenewer {
    data_dir: PathBuf,
    ca_dir: PathBuf,
    passphrase: Option<Passphrase>,
}

impl std::fmt::Debug for CertRenewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertRenewer")
            .field("data_dir", &self.data_dir)
            .field("ca_dir", &self.ca_dir)
            .field("can_renew", &self.passphrase.is_some())
            .finish()
    }
}

impl CertRenewer {
    /// For the site in `data_dir`, its CA in `ca_dir` (or `<data>/ca`), the passphrase from
    /// `passphrase_file`, [`PASSPHRASE_ENV`] or a demo site's passphrase file; never prompts.
    pub fn new(
        data_dir: &Path,
        ca_dir_arg: Option<&Path>,
        passphrase_file: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let ca_dir = ca_dir(data_dir, ca_dir_arg);
        let passphrase = find_passphrase(passphrase_file, &ca_dir, Prompt::Never)?;
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            ca_dir,
            passphrase,
        })
    }

    /// Whether it can renew by itself (it was given the passphrase).
    pub fn can_renew(&self) -> bool {
        self.passphrase.is_some()
    }

    /// Reloads the identity from disk (refusing another CA) and renews the server certificate
    /// when [`identity::renewal_due`] says so and the passphrase is known. Returns the identity to
    /// serve if it is not `current`'s certificate any more, `None` if nothing changed.
    ///
    /// Blocking, and about a second of CPU when it renews (Argon2id): call it from
    /// `spawn_blocking`. An error leaves the files as they were; the server keeps serving.
    pub fn check(
        &self,
        current: &SiteIdentity,
        now: SystemTime,
    ) -> Result<Option<SiteIdentity>, exam_net::IdentityError> {
        let on_disk = current.reload(&self.data_dir)?;
        let state = exam_net::renewal_due(&on_disk, now);
        let renewed = match (&state, &self.passphrase) {
            (RenewalState::Valid { .. }, _) => None,
            (_, Some(passphrase)) => {
                let ca = SiteCa::unlock(&self.data_dir, &self.ca_dir, passphrase)?;
                let new = ca.renew(&self.data_dir, now)?;
                tracing::info!(
                    valid_days = identity::SERVER_CERT_VALIDITY.as_secs() / 86_400,
                    "renewed the server certificate (same site CA, so clients keep trusting it)"
                );
                Some(new)
            }
            (_, None) => {
                tracing::warn!(
                    "{}; renew it: site-server renew-cert --data {}",
                    describe(&state),
                    self.data_dir.display()
                );
                None
            }
        };
        Ok(match renewed {
            Some(new) => Some(new),
            None if on_disk.server_cert != current.server_cert => Some(on_disk),
            None => None,
        })
    }
}

/// The state in words, e.g. "the server certificate expires in 3 days".
pub fn describe(state: &RenewalState) -> String {
    fn span(d: Duration) -> String {
        let hours = d.as_secs() / 3600;
        if hours >= 48 {
            format!("{} days", hours / 24)
        } else {
            format!("{hours} hours")
        }
    }
    match state {
        RenewalState::Valid { expires_in } | RenewalState::Soon { expires_in } => {
            format!("the server certificate expires in {}", span(*expires_in))
        }
        RenewalState::Expired { since } => format!(
            "the server certificate expired {} ago and candidate machines refuse it",
            span(*since)
        ),
    }
}

/// What `run` and `demo` do before serving: refuse a plaintext CA key, renew the certificate when
/// due and possible, and refuse an expired certificate that could not be renewed (every client
/// would refuse it). A certificate due soon without the passphrase is a warning.
pub fn prepare_to_serve(
    data_dir: &Path,
    renewer: &CertRenewer,
    now: SystemTime,
) -> anyhow::Result<()> {
    let current = SiteIdentity::load(data_dir)
        .with_context(|| format!("the site identity in {}", data_dir.display()))?;
    let serving = renewer
        .check(&current, now)
        .context("could not renew the server certificate")?
        .unwrap_or(current);
    let state = exam_net::renewal_due(&serving, now);
    if let RenewalState::Expired { .. } = state {
        anyhow::bail!(
            "{}; renew it with `site-server renew-cert --data {}` (add --ca-dir if the CA directory was moved), or give `run` the passphrase with --ca-passphrase-file or {PASSPHRASE_ENV} so it renews by itself",
            describe(&state),
            data_dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn demo_site(dir: &Path, now: SystemTime) -> (SiteIdentity, Passphrase) {
        let id = create_demo_identity(dir, "测试考点", now).expect("identity");
        let pass = read_passphrase_file(&identity::default_ca_dir(dir).join(DEMO_PASSPHRASE_FILE))
            .expect("demo passphrase");
        (id, pass)
    }

    fn renewer(dir: &Path, passphrase: Option<Passphrase>) -> CertRenewer {
        CertRenewer {
            data_dir: dir.to_path_buf(),
            ca_dir: identity::default_ca_dir(dir),
            passphrase,
        }
    }

    #[test]
    fn the_server_renews_a_due_certificate_itself_when_it_has_the_passphrase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = SystemTime::now();
        let (first, pass) = demo_site(dir.path(), now);
        let with = renewer(dir.path(), Some(pass));
        assert!(with.check(&first, now).expect("check").is_none(), "fresh");

        let due = now + identity::SERVER_CERT_VALIDITY - 5 * DAY;
        let renewed = with.check(&first, due).expect("check").expect("renewed");
        assert_eq!(renewed.fingerprint(), first.fingerprint());
        assert!(matches!(
            exam_net::renewal_due(&renewed, due),
            RenewalState::Valid { .. }
        ));
        // What was written is what the server reloads.
        let on_disk = SiteIdentity::load(dir.path()).expect("load");
        assert_eq!(on_disk.server_cert, renewed.server_cert);

        // Renewed meanwhile by `renew-cert`: a server still holding `first` picks it up.
        let without = renewer(dir.path(), None);
        let picked = without.check(&first, due).expect("check").expect("changed");
        assert_eq!(picked.server_cert, renewed.server_cert);
        assert!(without.check(&renewed, due).expect("check").is_none());
    }

    #[test]
    fn without_the_passphrase_a_due_certificate_warns_and_an_expired_one_stops_the_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = SystemTime::now();
        let (first, pass) = demo_site(dir.path(), now);
        let before = std::fs::read(dir.path().join(identity::SERVER_FILE)).expect("read");
        let without = renewer(dir.path(), None);
        let due = now + identity::SERVER_CERT_VALIDITY - 5 * DAY;
        prepare_to_serve(dir.path(), &without, due).expect("starts with a warning");
        let expired = now + identity::SERVER_CERT_VALIDITY + DAY;
        let err = prepare_to_serve(dir.path(), &without, expired).expect_err("refused");
        let text = format!("{err:#}");
        assert!(
            text.contains("expired") && text.contains("renew-cert"),
            "{text}"
        );
        assert_eq!(
            std::fs::read(dir.path().join(identity::SERVER_FILE)).expect("read"),
            before,
            "nothing written"
        );
        // With the passphrase, the same start renews and goes ahead.
        prepare_to_serve(dir.path(), &renewer(dir.path(), Some(pass)), expired).expect("renews");
        let now_served = SiteIdentity::load(dir.path()).expect("load");
        assert_eq!(now_served.fingerprint(), first.fingerprint());
        assert!(matches!(
            exam_net::renewal_due(&now_served, expired),
            RenewalState::Valid { .. }
        ));
    }

    #[test]
    fn passphrase_files_lose_one_line_break_and_new_passphrases_must_be_long() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("p");
        std::fs::write(&f, "two words \r\n").expect("write");
        assert_eq!(
            read_passphrase_file(&f).expect("read").expose(),
            "two words "
        );
        std::fs::write(&f, "\n").expect("write");
        assert!(read_passphrase_file(&f).is_err(), "empty");
        std::fs::write(&f, vec![b'x'; PASSPHRASE_FILE_BYTES_MAX as usize + 1]).expect("write");
        assert!(read_passphrase_file(&f).is_err(), "too large");
        let short = Passphrase::new("eleven char".into()).expect("p");
        assert!(check_new_passphrase(&short).is_err());
        let ok = Passphrase::new("twelve chars".into()).expect("p");
        check_new_passphrase(&ok).expect("long enough");
    }
}
