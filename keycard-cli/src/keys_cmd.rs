//! `keycard keys …`: make and inspect signing keys.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use keycard::jwt::KeyAlgorithm;
use keycard::{SigningKey, VerifyingKey};

use crate::cli::KeysCommand;

pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { alg, out } => generate(&alg, &out),
        KeysCommand::Show { file } => {
            let pem =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let key = VerifyingKey::from_pem(&pem).with_context(|| file.display().to_string())?;
            print_jwk(&key)
        }
    }
}

fn generate(alg: &str, out: &Path) -> anyhow::Result<()> {
    let alg = match KeyAlgorithm::from_name(alg) {
        Some(
            a @ (KeyAlgorithm::EdDSA
            | KeyAlgorithm::ES256
            | KeyAlgorithm::ES384
            | KeyAlgorithm::RS256),
        ) => a,
        _ => bail!("--alg {alg:?}: choose EdDSA, ES256, ES384 or RS256"),
    };
    // Checked first, so that nothing slow happens before a refusal.
    if out.exists() {
        bail!(
            "{} already exists; keycard never overwrites a key",
            out.display()
        );
    }
    let generated = SigningKey::generate(alg)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    file.write_all(generated.pem.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", out.display()))?;
    let key = &generated.verifying_key;
    eprintln!(
        "wrote {} ({alg}, kid {})",
        out.display(),
        key.key_id().unwrap_or("-")
    );
    print_jwk(key)
}

fn print_jwk(key: &VerifyingKey) -> anyhow::Result<()> {
    let Some(jwk) = key.jwk_json() else {
        bail!("not a public key");
    };
    let jwk: serde_json::Value = serde_json::from_str(&jwk)?;
    crate::print_line(&format!("kid: {}", key.key_id().unwrap_or("-")))?;
    crate::print_line(&serde_json::to_string_pretty(&jwk)?)?;
    Ok(())
}
