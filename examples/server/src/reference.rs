//! The command-line reference, `docs/cli.md`, generated from the clap definitions that
//! `--help` prints, so that the two cannot drift apart. A test compares the file with what
//! this generates and fails when they differ; `IMAGEVAULT_BLESS=1` rewrites it:
//!
//! ```text
//! IMAGEVAULT_BLESS=1 cargo test -p imagevault-server --bin imagevault-server reference
//! ```

use std::fmt::Write as _;

use clap::{Arg, ArgAction, Command, CommandFactory as _};

use crate::cli::Cli;

/// The file, from the crate's folder.
const DOCS_PATH: &str = "../../docs/cli.md";

/// The whole reference, in Markdown.
pub(crate) fn markdown() -> String {
    let mut root = Cli::command();
    // Building fills in each subcommand's full name and usage, and its global options.
    root.build();
    let mut out = String::from(
        "# Command-line reference\n\n\
         <!-- Generated from the clap definitions (examples/server/src/cli.rs); do not edit.\n     \
         Regenerate: IMAGEVAULT_BLESS=1 cargo test -p imagevault-server --bin imagevault-server reference -->\n\n\
         Every command of `imagevault-server`, with what `--help` says. Options of the first \
         section are global: every command takes them, before or after its name. Every \
         option with an environment variable can be set by it instead.\n",
    );
    write_command(&mut out, &root, true);
    out
}

fn write_command(out: &mut String, command: &Command, root: bool) {
    let name = command
        .get_bin_name()
        .unwrap_or_else(|| command.get_name())
        .to_owned();
    let _ = write!(out, "\n## `{name}`\n\n");
    if let Some(about) = command.get_long_about().or_else(|| command.get_about()) {
        let _ = writeln!(out, "{}\n", about.to_string().trim_end());
    }
    let usage = command.clone().render_usage().to_string();
    let _ = writeln!(out, "```text\n{}\n```", usage.trim_end());

    let subcommands: Vec<&Command> = command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
        .collect();
    if !subcommands.is_empty() {
        out.push_str("\nCommands:\n\n");
        for sub in &subcommands {
            let about = sub
                .get_about()
                .map(|about| about.to_string())
                .unwrap_or_default();
            let _ = writeln!(out, "- `{}`: {}", sub.get_name(), about.trim_end());
        }
    }

    let shown = |arg: &&Arg| {
        !arg.is_hide_set()
            && !matches!(arg.get_id().as_str(), "help" | "version")
            && (root || !arg.is_global_set())
    };
    let positionals: Vec<&Arg> = command
        .get_arguments()
        .filter(shown)
        .filter(|arg| arg.is_positional())
        .collect();
    let options: Vec<&Arg> = command
        .get_arguments()
        .filter(shown)
        .filter(|arg| !arg.is_positional())
        .collect();
    if !positionals.is_empty() {
        out.push_str("\nArguments:\n\n");
        for arg in positionals {
            write_arg(out, arg);
        }
    }
    if !options.is_empty() {
        out.push_str(if root {
            "\nGlobal options:\n\n"
        } else {
            "\nOptions:\n\n"
        });
        for arg in options {
            write_arg(out, arg);
        }
    }
    for sub in subcommands {
        write_command(out, sub, false);
    }
}

/// One argument as a list item: its spelling, its help, default, choices and variable.
fn write_arg(out: &mut String, arg: &Arg) {
    let value_names: Vec<String> = arg
        .get_value_names()
        .map(|names| names.iter().map(|name| format!("<{name}>")).collect())
        .unwrap_or_else(|| vec![format!("<{}>", arg.get_id().as_str().to_uppercase())]);
    let takes_value = arg.get_action().takes_values();
    let mut spelling = if arg.is_positional() {
        value_names.join(" ")
    } else {
        let mut flag = match (arg.get_short(), arg.get_long()) {
            (Some(short), Some(long)) => format!("-{short}, --{long}"),
            (Some(short), None) => format!("-{short}"),
            (None, Some(long)) => format!("--{long}"),
            (None, None) => arg.get_id().to_string(),
        };
        if takes_value {
            flag.push(' ');
            flag.push_str(&value_names.join(" "));
        }
        flag
    };
    if takes_value
        && arg
            .get_num_args()
            .is_some_and(|range| range.max_values() > 1)
    {
        spelling.push_str("...");
    }
    let help = arg
        .get_long_help()
        .or_else(|| arg.get_help())
        .map(|help| help.to_string())
        .unwrap_or_default();
    let _ = write!(out, "- `{spelling}`: {}", help.trim_end());
    let mut details = Vec::new();
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|value| value.to_string_lossy().into_owned())
        .collect();
    let is_flag = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
    if !defaults.is_empty() && !is_flag {
        details.push(format!("default: `{}`", defaults.join(",")));
    }
    let choices: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|value| !value.is_hide_set())
        .map(|value| format!("`{}`", value.get_name()))
        .collect();
    if !choices.is_empty() && takes_value {
        details.push(format!("one of {}", choices.join(", ")));
    }
    if let Some(env) = arg.get_env() {
        details.push(format!("env `{}`", env.to_string_lossy()));
    }
    if !details.is_empty() {
        let _ = write!(out, " ({})", details.join("; "));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// `docs/cli.md` is what [`markdown`] generates; `IMAGEVAULT_BLESS=1` rewrites it.
    #[test]
    fn reference_docs_match_the_command_line() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DOCS_PATH);
        let generated = markdown();
        if std::env::var_os("IMAGEVAULT_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write docs/cli.md");
            return;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != generated {
            let first_difference = current
                .lines()
                .zip(generated.lines())
                .position(|(old, new)| old != new)
                .unwrap_or_else(|| current.lines().count().min(generated.lines().count()));
            panic!(
                "docs/cli.md is out of date with the command line (first difference at line {}); \
                 regenerate it with `IMAGEVAULT_BLESS=1 cargo test -p imagevault-server --bin \
                 imagevault-server reference` and commit it",
                first_difference + 1
            );
        }
    }

    #[test]
    fn the_reference_covers_every_command_and_global_option_once() {
        let text = markdown();
        for heading in [
            "## `imagevault-server`\n",
            "## `imagevault-server admin import`\n",
            "## `imagevault-server admin thumbnails regenerate`\n",
        ] {
            assert!(text.contains(heading), "{heading}");
        }
        assert_eq!(text.matches("- `--database <DATABASE>`").count(), 1);
        assert!(text.contains("env `IMAGEVAULT_DATABASE`"));
        assert!(text.contains("- `--user <USERNAME>`"));
        assert!(text.contains("- `<PATH>...`"), "{text}");
    }
}
