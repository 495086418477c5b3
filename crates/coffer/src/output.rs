//! Output formats shared by the `get` commands.

use std::io::Write as _;

use clap::ValueEnum;
use serde::Serialize;

use crate::error::CliError;

/// How to print results.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// JSON for programs.
    Json,
    /// YAML.
    Yaml,
}

/// Prints `value` as JSON or YAML.
pub(crate) fn structured<T: Serialize>(format: Format, value: &T) -> Result<(), CliError> {
    let text = match format {
        Format::Yaml => serde_yaml::to_string(value).map_err(|e| CliError::new(e.to_string()))?,
        _ => serde_json::to_string_pretty(value).map_err(|e| CliError::new(e.to_string()))? + "\n",
    };
    print_out(&text)
}

/// Prints rows as aligned columns under a header.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> Result<(), CliError> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    print_out(&out)
}

/// Writes to stdout, turning a closed pipe into a quiet success.
pub(crate) fn print_out(text: &str) -> Result<(), CliError> {
    write_out(text.as_bytes())
}

pub(crate) fn write_out(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::new(format!("cannot write output: {e}"))),
        _ => Ok(()),
    }
}
