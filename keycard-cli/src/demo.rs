//! `keycard serve --demo`: a throwaway secret and users file with one user, on
//! loopback only. In a module of its own, out of the serve loop: `main` prepares it,
//! the config checks its address, `serve` prints its lines.

use std::path::PathBuf;

use anyhow::{Context, bail};
use keycard::FileUserStore;
use keycard::clock::SystemClock;
use keycard::store::file::Users;

use crate::config::ServeConfig;

/// A throwaway demo: random secret, a temporary users file with one user.
pub struct Demo {
    dir: PathBuf,
    password: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Demo {
    pub fn prepare(config: &mut ServeConfig) -> anyhow::Result<Self> {
        // A new directory of our own, never one that was there before: anyone may
        // create names in /tmp, and a directory they made could be theirs to read.
        let dir = std::env::temp_dir().join(format!(
            "keycard-demo-{}-{}",
            std::process::id(),
            random_password()?
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let demo = Self {
            dir,
            password: random_password()?,
        };
        let users = demo.dir.join("users.json");
        let hash = config.policy.hash(&demo.password)?;
        FileUserStore::update(&users, |u: &mut Users| {
            u.add("demo", "admin", hash, &SystemClock)
        })?;
        config.users = users;
        Ok(demo)
    }

    pub fn print(&self, addr: std::net::SocketAddr) {
        let password = &self.password;
        println!("keycard demo: a throwaway secret and the user demo / {password} (role admin).");
        println!("Get a token, then call a protected route with it:");
        println!();
        println!(
            "  TOKEN=$(curl -s http://{addr}/token -H 'Accept: text/plain' -d username=demo -d password={password})"
        );
        println!("  curl -s http://{addr}/me -H \"Authorization: Bearer $TOKEN\"");
        println!();
    }
}

fn random_password() -> anyhow::Result<String> {
    use base64::Engine;
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Refuses a demo when the address is not loopback: a known demo user on a network
/// address would be an open door.
pub fn check_demo_listen(listen: &str) -> anyhow::Result<()> {
    let addr: std::net::SocketAddr = listen.parse().context("--listen")?;
    if !addr.ip().is_loopback() {
        bail!("--demo listens on loopback addresses only (got {listen})");
    }
    Ok(())
}
