//! `keycard users …`: manage the user database.

use std::io::{BufRead, IsTerminal, Read};
use std::path::Path;

use anyhow::{Context, bail};
use keycard::PasswordPolicy;
use keycard::login::password::check_password;
use keycard::store::file::Users;
use keycard::store::users::{check_role, check_username};
use keycard::store::{Accounts, Put};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::Failure;
use crate::cli::UsersCommand;
use crate::stores::{Location, Stores};

pub fn run(
    command: UsersCommand,
    location: &Location,
    policy: PasswordPolicy,
) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(e.into()))?;
    runtime.block_on(async {
        // A store that cannot be opened (a malformed file, a wrong database URL or
        // password, a newer schema) is a configuration error: exit 2.
        let stores = Stores::open(location).await.map_err(Failure::Config)?;
        run_async(command, &stores, policy)
            .await
            .map_err(Failure::Runtime)
    })
}

async fn run_async(
    command: UsersCommand,
    stores: &Stores,
    policy: PasswordPolicy,
) -> anyhow::Result<()> {
    let accounts = stores.accounts();
    let at = &stores.shown;
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
            audit("user.add", &name, Some(&role));
            eprintln!("added user {name} with role {role} to {at}");
        }
        UsersCommand::Passwd {
            name,
            password_stdin,
        } => {
            if accounts.find(&name).await?.is_none() {
                bail!("no user named {name:?} in {at}");
            }
            let password = read_password(password_stdin)?;
            let hash = policy.hash(&password)?;
            accounts.set_password(&name, hash).await?;
            audit("user.passwd", &name, None);
            eprintln!("changed the password of {name}; their earlier tokens no longer work");
        }
        UsersCommand::SetRole { name, role } => {
            accounts.set_role(&name, &role).await?;
            audit("user.set_role", &name, Some(&role));
            eprintln!("{name} now has role {role}; their earlier tokens no longer work");
        }
        UsersCommand::Remove { name } => {
            accounts.remove(&name).await?;
            audit("user.remove", &name, None);
            eprintln!("removed user {name}");
        }
        UsersCommand::RevokeAll { name } => {
            if accounts.find(&name).await?.is_none() {
                bail!("no user named {name:?} in {at}");
            }
            accounts.revoke_all(&name).await?;
            audit("user.revoke_all", &name, None);
            eprintln!("every token issued to {name} so far is revoked");
        }
        UsersCommand::List { json } => list(&accounts, json).await?,
        UsersCommand::Export => {
            let users = Users::from_users(accounts.list().await?)?;
            let json = String::from_utf8(users.to_json()?)?;
            crate::print_line(json.trim_end())?;
        }
        UsersCommand::Import { file } => import(&accounts, &file, at).await?,
    }
    Ok(())
}

/// `keycard users import FILE`: every user put as it is; a replaced one's tokens end.
async fn import(accounts: &Accounts, file: &Path, at: &str) -> anyhow::Result<()> {
    let bytes = if file == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
        bytes
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    // All of it checked before anything is written.
    let users = Users::parse_bytes(&bytes).with_context(|| format!("{}", file.display()))?;
    for u in users.iter() {
        check_username(u.name())?;
        check_role(u.role())?;
    }
    let (mut added, mut replaced, mut unchanged) = (0, 0, 0);
    for user in users.iter() {
        match accounts.import(user.clone()).await? {
            Put::Added => {
                added += 1;
                audit("user.import_add", user.name(), Some(user.role()));
            }
            Put::Replaced => {
                replaced += 1;
                audit("user.import_replace", user.name(), Some(user.role()));
            }
            Put::Unchanged => unchanged += 1,
        }
    }
    let ended = if replaced > 0 {
        " (their earlier tokens no longer work)"
    } else {
        ""
    };
    eprintln!(
        "imported {} users into {at}: {added} added, {replaced} replaced{ended}, {unchanged} unchanged",
        users.len()
    );
    Ok(())
}

/// A user change as an audit event (`keycard::audit`; written only with
/// `--log-format json`): which change, whose account, and who ran the command.
pub fn audit(event: &'static str, user: &str, role: Option<&str>) {
    let by = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "-".to_owned());
    tracing::info!(target: "keycard::audit", event, user, role, by = %by, via = "cli");
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
