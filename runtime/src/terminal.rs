//! Reading a password from the terminal without echoing it (for `moxide
//! setaccountpassword` run interactively). Lives here because it needs termios calls.

use std::io::{BufRead, IsTerminal, Write};

/// Reads one line from standard input. When standard input is a terminal, prompts on
/// standard error and turns echo off while the line is typed.
pub fn read_secret_line(prompt: &str) -> std::io::Result<String> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut saved = None;
    if interactive {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        saved = echo_off(libc::STDIN_FILENO);
    }
    let mut line = String::new();
    let result = stdin.lock().read_line(&mut line);
    if let Some(original) = saved {
        // SAFETY: restores the attributes read from the same descriptor by echo_off.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &original) };
        eprintln!();
    }
    result?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn echo_off(fd: libc::c_int) -> Option<libc::termios> {
    // SAFETY: termios is plain old data; tcgetattr fills it completely on success.
    let mut attributes: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is standard input, open for the process's lifetime; `attributes` is valid.
    if unsafe { libc::tcgetattr(fd, &mut attributes) } != 0 {
        return None;
    }
    let original = attributes;
    attributes.c_lflag &= !libc::ECHO;
    // SAFETY: as above; the attributes are a modified copy of the current ones.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &attributes) } != 0 {
        return None;
    }
    Some(original)
}
