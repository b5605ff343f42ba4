//! The config file: read, split among the structs that define its keys (`cli.rs`), and
//! laid under the command line's options, key by key.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::cli::{DEFAULT_CONFIG, GlobalArgs, ServeArgs};
use crate::trusted::TrustedIssuerConfig;

/// The config file, read and checked, its keys split among the structs that define
/// them: the global options, `keycard serve`'s, and those only a file gives.
#[derive(Default)]
pub struct FileConfig {
    /// Where it was read from, for messages; `None` when there is no file.
    path: Option<PathBuf>,
    global: toml::Table,
    serve: toml::Table,
    pub only: FileOnly,
}

/// Keys only a config file gives: a secret's path (secrets never come from flags), route
/// rules and the other issuers trusted.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileOnly {
    pub authentication_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub rule: Vec<RuleConfig>,
    #[serde(default)]
    pub trusted_issuer: Vec<TrustedIssuerConfig>,
}

/// The keys of [`FileOnly`].
const FILE_ONLY: [&str; 3] = ["authentication_secret_file", "rule", "trusted_issuer"];

/// A `[[rule]]` of the config file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub path: String,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The config keys of the options `A` defines: their clap ids, the field names.
fn keys_of<A: Args>() -> Vec<String> {
    A::augment_args(clap::Command::new("keys"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        // `--demo` is for trying Keycard out, never for a config file.
        .filter(|id| id != "demo")
        .collect()
}

impl FileConfig {
    /// `--config FILE`, or `keycard.toml` in the working directory when present.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None if Path::new(DEFAULT_CONFIG).exists() => PathBuf::from(DEFAULT_CONFIG),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            // toml's messages span several lines; keep the first.
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid TOML").to_owned();
            let detail = e.message().to_owned();
            anyhow!("config file {}: {first}: {detail}", path.display())
        })?;
        let (global_keys, serve_keys) = (keys_of::<GlobalArgs>(), keys_of::<ServeArgs>());
        let mut config = Self {
            path: Some(path),
            ..Self::default()
        };
        let mut only = toml::Table::new();
        for (key, value) in table {
            let part = if global_keys.contains(&key) {
                &mut config.global
            } else if serve_keys.contains(&key) {
                &mut config.serve
            } else if FILE_ONLY.contains(&key.as_str()) {
                &mut only
            } else {
                let known = global_keys.iter().chain(&serve_keys).map(String::as_str);
                let hint = closest(&key, known.chain(FILE_ONLY))
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                bail!("{}: unknown key `{key}`{hint}", config.name());
            };
            part.insert(key, value);
        }
        config.only = only.try_into().map_err(|e| config.refusal(&e))?;
        // Checked now, whatever the subcommand: a mistyped value is refused at once.
        config.global(&GlobalArgs::default())?;
        config.serve(&ServeArgs::default())?;
        Ok(config)
    }

    fn name(&self) -> String {
        match &self.path {
            Some(path) => format!("config file {}", path.display()),
            None => "the command line".to_owned(),
        }
    }

    /// The global options: those `cli` sets, over the file's.
    pub fn global(&self, cli: &GlobalArgs) -> anyhow::Result<GlobalArgs> {
        self.overlay(&self.global, cli)
    }

    /// `keycard serve`'s options: those `cli` sets, over the file's.
    pub fn serve(&self, cli: &ServeArgs) -> anyhow::Result<ServeArgs> {
        let mut args: ServeArgs = self.overlay(&self.serve, cli)?;
        args.demo = cli.demo;
        Ok(args)
    }

    /// The file's keys, replaced by every option `cli` sets (an unset option serializes
    /// to no key), read back into `T`.
    fn overlay<T: serde::Serialize + DeserializeOwned>(
        &self,
        file: &toml::Table,
        cli: &T,
    ) -> anyhow::Result<T> {
        let mut merged = file.clone();
        // Fails only for values TOML cannot hold: a path that is not UTF-8, say.
        merged.extend(toml::Table::try_from(cli).context("an option's value")?);
        merged.try_into().map_err(|e| self.refusal(&e))
    }

    /// A value of the file refused, in one line ("…, expected a string in `token_ttl`").
    fn refusal(&self, e: &toml::de::Error) -> anyhow::Error {
        let text = e.to_string();
        let words: Vec<&str> = text.split_whitespace().collect();
        anyhow!("{}: {}", self.name(), words.join(" "))
    }
}

/// The known key nearest to `key`, when it is a likely typo (at most two edits away).
fn closest<'a>(key: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (edit_distance(key, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let left = row.get(j).copied().unwrap_or(usize::MAX);
            let cost = diagonal + usize::from(ca != *cb);
            diagonal = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = cost.min(above + 1).min(left + 1);
            }
        }
    }
    row.last().copied().unwrap_or(0)
}
