//! `keycard users …`: manage the user database.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use keycard::clock::SystemClock;
use keycard::login::password::check_password;
use keycard::store::Accounts;
use keycard::store::token_store_path;
use keycard::store::users::{check_role, check_username};
use keycard::{FileTokenStore, FileUserStore, PasswordPolicy};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::UsersCommand;

pub fn run(command: UsersCommand, path: &Path, policy: PasswordPolicy) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(run_async(command, path, policy))
}

/// The user store and token store beside `path`, through [`Accounts`], which ends a
/// user's tokens on every password, role or removal change.
fn accounts(path: &Path) -> anyhow::Result<Accounts> {
    let users = Arc::new(FileUserStore::open(path)?);
    let tokens = Arc::new(FileTokenStore::open(
        token_store_path(path),
        Arc::new(SystemClock),
    )?);
    Ok(Accounts::new(users, tokens))
}

async fn run_async(
    command: UsersCommand,
    path: &Path,
    policy: PasswordPolicy,
) -> anyhow::Result<()> {
    let accounts = accounts(path)?;
    match command {
        UsersCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            check_username(&name)?;
            check_role(&role)?;
            // Checked before the password is asked for.
            if accounts.find(&name).await?.is_some() {
                bail!("user {name:?} already exists");
            }
            let password = read_password(password_stdin)?;
            let hash = policy.hash(&password)?;
            accounts.add(&name, &role, hash).await?;
            eprintln!("added user {name} with role {role} to {}", path.display());
        }
        UsersCommand::Passwd {
            name,
            password_stdin,
        } => {
            if accounts.find(&name).await?.is_none() {
                bail!("no user named {name:?} in {}", path.display());
            }
            let password = read_password(password_stdin)?;
            let hash = policy.hash(&password)?;
            accounts.set_password(&name, hash).await?;
            eprintln!("changed the password of {name}; their earlier tokens no longer work");
        }
        UsersCommand::SetRole { name, role } => {
            accounts.set_role(&name, &role).await?;
            eprintln!("{name} now has role {role}; their earlier tokens no longer work");
        }
        UsersCommand::Remove { name } => {
            accounts.remove(&name).await?;
            eprintln!("removed user {name}");
        }
        UsersCommand::RevokeAll { name } => {
            if accounts.find(&name).await?.is_none() {
                bail!("no user named {name:?} in {}", path.display());
            }
            accounts.revoke_all(&name).await?;
            eprintln!("every token issued to {name} so far is revoked");
        }
        UsersCommand::List { json } => list(&accounts, json).await?,
    }
    Ok(())
}

#[derive(Serialize)]
struct Listed<'a> {
    name: &'a str,
    role: &'a str,
    created: Option<&'a str>,
}

async fn list(accounts: &Accounts, json: bool) -> anyhow::Result<()> {
    let users = accounts.list().await?;
    let listed: Vec<Listed> = users
        .iter()
        .map(|u| Listed {
            name: u.name(),
            role: u.role(),
            created: u.created(),
        })
        .collect();
    if json {
        crate::print_line(&serde_json::to_string_pretty(&listed)?)?;
    } else {
        for u in listed {
            crate::print_line(&format!(
                "{}\t{}\t{}",
                u.name,
                u.role,
                u.created.unwrap_or("-")
            ))?;
        }
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<Zeroizing<String>> {
    let password = if from_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        if line.is_empty() {
            bail!("no password on standard input");
        }
        if line.ends_with('\n') {
            line.pop();
            if line.ends_with('\r') {
                line.pop();
            }
        }
        line
    } else {
        if !std::io::stdin().is_terminal() {
            bail!(
                "standard input is not a terminal: pass --password-stdin to read the password from it"
            );
        }
        let first = Zeroizing::new(
            rpassword::prompt_password("Password: ").context("cannot read the password")?,
        );
        check_password(&first)?;
        let second = Zeroizing::new(
            rpassword::prompt_password("Password again: ").context("cannot read the password")?,
        );
        if *first != *second {
            bail!("the passwords differ");
        }
        first
    };
    check_password(&password)?;
    Ok(password)
}
