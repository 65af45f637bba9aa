//! `prebounce completions SHELL` and `prebounce man`: generated from the
//! command line's own definition, so they never drift from `--help`.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;

use super::args::Cli;

/// Writes everything at once and ends quietly when the reader went away
/// (the generators panic on a failed write, so they write to memory).
fn emit(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

pub fn completions(shell: Shell) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "prebounce", &mut buf);
    emit(&buf)
}

pub fn man() -> anyhow::Result<()> {
    emit(&man_page()?)
}

/// One page for the whole command tree: the top level as clap_mangen
/// renders it, then a section per command (and per subcommand of `lab`)
/// with its description, synopsis and options, then the exit status.
pub fn man_page() -> io::Result<Vec<u8>> {
    let mut cmd = Cli::command();
    cmd.build();
    let top = Man::new(cmd.clone()).manual("prebounce manual");
    let mut body = Vec::new();
    top.render_name_section(&mut body)?;
    top.render_synopsis_section(&mut body)?;
    top.render_description_section(&mut body)?;
    top.render_options_section(&mut body)?;
    for sub in cmd.get_subcommands() {
        commands(&mut body, sub)?;
    }
    body.extend_from_slice(exit_status().as_bytes());
    top.render_version_section(&mut body)?;
    // Each part comes with clap_mangen's preamble (the definition of the
    // string \*(Aq): once is enough, after the title, so that the page
    // starts with .TH as man(7) wants.
    let mut title = Vec::new();
    top.render_title(&mut title)?;
    let mut page = String::new();
    let mut preamble = String::new();
    for l in String::from_utf8_lossy(&title).lines() {
        if is_preamble(l) {
            preamble.push_str(l);
            preamble.push('\n');
        } else {
            page.push_str(l);
            page.push('\n');
        }
    }
    page.push_str(&preamble);
    for l in String::from_utf8_lossy(&body).lines() {
        if !is_preamble(l) {
            page.push_str(l);
            page.push('\n');
        }
    }
    Ok(page.into_bytes())
}

/// clap_mangen's preamble lines.
fn is_preamble(line: &str) -> bool {
    line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq")
}

/// A command's section: `.SH "PREBOUNCE CHECK"`, its parts as `.SS`.
fn commands(page: &mut Vec<u8>, cmd: &clap::Command) -> io::Result<()> {
    if cmd.get_name() == "help" {
        return Ok(());
    }
    let name = cmd
        .get_bin_name()
        .map(str::to_string)
        .unwrap_or_else(|| format!("prebounce {}", cmd.get_name()));
    writeln!(page, ".SH \"{}\"", roff_escape(&name.to_uppercase()))?;
    let man = Man::new(cmd.clone());
    let mut part = Vec::new();
    man.render_description_section(&mut part)?;
    man.render_synopsis_section(&mut part)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut part)?;
    }
    let part = String::from_utf8_lossy(&part)
        .lines()
        .map(|l| match l.strip_prefix(".SH ") {
            Some(rest) => format!(".SS {rest}\n"),
            None => format!("{l}\n"),
        })
        .collect::<String>();
    page.extend_from_slice(part.as_bytes());
    // Notes after the options (recheck's schedule) as written, but not the
    // exit codes again: the page has them once, in EXIT STATUS.
    let after = cmd.get_after_help().map(|h| h.to_string());
    let notes = after.as_deref().map(|h| match h.find("Exit codes:") {
        Some(i) => h[..i].trim_end(),
        None => h.trim_end(),
    });
    if let Some(notes) = notes.filter(|n| !n.is_empty()) {
        page.extend_from_slice(b".SS NOTES\n.nf\n");
        for line in notes.lines() {
            page.extend_from_slice(roff_text(line).as_bytes());
            page.push(b'\n');
        }
        page.extend_from_slice(b".fi\n");
    }
    for sub in cmd.get_subcommands() {
        commands(page, sub)?;
    }
    Ok(())
}

/// Escapes what roff would read as commands in a quoted argument.
fn roff_escape(s: &str) -> String {
    s.replace('\\', "\\e")
        .replace('-', "\\-")
        .replace('"', "\\(dq")
}

/// The EXIT STATUS section, from the same list `--help` shows.
fn exit_status() -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n");
    let mut item: Option<(String, String)> = None;
    let flush = |s: &mut String, item: &mut Option<(String, String)>| {
        if let Some((code, text)) = item.take() {
            s.push_str(&format!(".TP\n{code}\n{}\n", roff_text(text.trim())));
        }
    };
    for line in super::args::EXIT_CODES.lines().skip(1) {
        let line = line.trim();
        match line.split_once("  ") {
            Some((code, text)) if code.chars().all(|c| c.is_ascii_digit()) => {
                flush(&mut s, &mut item);
                item = Some((code.to_string(), text.to_string()));
            }
            _ => {
                if let Some((_, text)) = item.as_mut() {
                    text.push(' ');
                    text.push_str(line);
                }
            }
        }
    }
    flush(&mut s, &mut item);
    s
}

/// Body text for roff: backslashes and hyphens escaped, no line starting
/// with a control character.
fn roff_text(s: &str) -> String {
    let t = s.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_lists_every_code() {
        let s = exit_status();
        for code in ["0", "1", "2", "3", "4"] {
            assert!(s.contains(&format!(".TP\n{code}\n")), "{s}");
        }
        assert!(s.contains("wrong column?"), "{s}");
    }
}
