//! `keycard users …`: manage the user database.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::{Context, bail};
use keycard::login::password::check_password;
use keycard::store::users::{check_role, check_username};
use keycard::{FileTokenStore, FileUserStore, PasswordPolicy, SystemClock, token_store_path};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::UsersCommand;

pub fn run(command: UsersCommand, path: &Path, policy: PasswordPolicy) -> anyhow::Result<()> {
    match command {
        UsersCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            check_username(&name)?;
            check_role(&role)?;
            if FileUserStore::read(path)?.get(&name).is_some() {
                bail!("user {name:?} already exists");
            }
            let password = read_password(password_stdin)?;
            let hash = policy.hash(&password)?;
            FileUserStore::update(path, |u| u.add(&name, &role, hash, &SystemClock))?;
            eprintln!("added user {name} with role {role} to {}", path.display());
        }
        UsersCommand::Passwd {
            name,
            password_stdin,
        } => {
            if FileUserStore::read(path)?.get(&name).is_none() {
                bail!("no user named {name:?} in {}", path.display());
            }
            let password = read_password(password_stdin)?;
            let hash = policy.hash(&password)?;
            FileUserStore::update(path, |u| u.set_password_hash(&name, hash))?;
            revoke_all(path, &name)?;
            eprintln!("changed the password of {name}; their earlier tokens no longer work");
        }
        UsersCommand::SetRole { name, role } => {
            FileUserStore::update(path, |u| u.set_role(&name, &role))?;
            revoke_all(path, &name)?;
            eprintln!("{name} now has role {role}; their earlier tokens no longer work");
        }
        UsersCommand::Remove { name } => {
            FileUserStore::update(path, |u| u.remove(&name))?;
            revoke_all(path, &name)?;
            eprintln!("removed user {name}");
        }
        UsersCommand::RevokeAll { name } => {
            if FileUserStore::read(path)?.get(&name).is_none() {
                bail!("no user named {name:?} in {}", path.display());
            }
            revoke_all(path, &name)?;
            eprintln!("every token issued to {name} so far is revoked");
        }
        UsersCommand::List { json } => list(path, json)?,
    }
    Ok(())
}

/// Every token of `name` issued up to now stops working (the token store beside `path`).
fn revoke_all(path: &Path, name: &str) -> anyhow::Result<()> {
    FileTokenStore::revoke_user_at(&token_store_path(path), name, &SystemClock)?;
    Ok(())
}

#[derive(Serialize)]
struct Listed<'a> {
    name: &'a str,
    role: &'a str,
    created: Option<&'a str>,
}

fn list(path: &Path, json: bool) -> anyhow::Result<()> {
    let users = FileUserStore::read(path)?;
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
