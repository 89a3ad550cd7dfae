//! Secrets and confirmations from the user: password, mnemonic, "send? [y/N]".
//!
//! The password comes from `--password-file` / `WALLET_PASSWORD_FILE`, else
//! `WALLET_PASSWORD`, else a prompt on the terminal (input hidden). Nothing read here is
//! ever logged.

use crate::error::WalletError;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use zeroize::Zeroizing;

/// The environment variable holding the password for scripts.
pub const PASSWORD_ENV: &str = "WALLET_PASSWORD";
/// The environment variable holding a BIP39 passphrase for `new --with-passphrase`.
pub const PASSPHRASE_ENV: &str = "WALLET_BIP39_PASSPHRASE";

/// Why a password is wanted: a new one is asked twice and must not be empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordUse {
    Unlock,
    Create,
}

/// The wallet password, from the file, the environment or the terminal.
pub fn password(
    file: Option<&Path>,
    purpose: PasswordUse,
) -> Result<Zeroizing<String>, WalletError> {
    let password = if let Some(path) = file {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| WalletError::Io {
                    action: "read password file",
                    path: path.to_path_buf(),
                    source,
                })?,
            );
        Zeroizing::new(strip_line_end(&text).to_string())
    } else if let Ok(value) = std::env::var(PASSWORD_ENV) {
        Zeroizing::new(value)
    } else {
        let first = hidden("wallet password: ")?;
        if purpose == PasswordUse::Create {
            let again = hidden("repeat the password: ")?;
            if *first != *again {
                return Err(WalletError::Password(
                    "the two passwords differ; nothing was written".into(),
                ));
            }
        }
        first
    };
    if purpose == PasswordUse::Create && password.is_empty() {
        return Err(WalletError::Password(
            "the password must not be empty".into(),
        ));
    }
    Ok(password)
}

/// Reads a line without echo from the terminal.
fn hidden(prompt: &str) -> Result<Zeroizing<String>, WalletError> {
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|_| {
            WalletError::Password(format!(
                "no password: there is no terminal to ask on; set {PASSWORD_ENV} or pass --password-file"
            ))
        })
}

/// Drops one trailing `\n` or `\r\n`; other whitespace is part of the secret.
fn strip_line_end(text: &str) -> &str {
    text.strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(text)
}

/// The mnemonic and BIP39 passphrase for `restore`: prompted (hidden) on a terminal, or
/// read from standard input (first line the mnemonic, optional second line the
/// passphrase).
pub fn mnemonic_and_passphrase() -> Result<(Zeroizing<String>, Zeroizing<String>), WalletError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let words = hidden_required("mnemonic (words separated by spaces): ")?;
        let passphrase = hidden_required("bip39 passphrase (press enter if none): ")?;
        return Ok((words, passphrase));
    }
    let mut lines = stdin.lock().lines();
    let mut next = || -> Result<Option<Zeroizing<String>>, WalletError> {
        match lines.next() {
            Some(Ok(line)) => Ok(Some(Zeroizing::new(line))),
            Some(Err(source)) => Err(WalletError::Io {
                action: "read",
                path: "standard input".into(),
                source,
            }),
            None => Ok(None),
        }
    };
    let words = loop {
        match next()? {
            Some(line) if line.trim().is_empty() => continue,
            Some(line) => break line,
            None => {
                return Err(WalletError::BadMnemonic(
                    "standard input is empty; give the mnemonic on its first line".into(),
                ))
            }
        }
    };
    let passphrase = match next()? {
        Some(line) => Zeroizing::new(strip_line_end(&line).to_string()),
        None => Zeroizing::new(String::new()),
    };
    Ok((words, passphrase))
}

fn hidden_required(prompt: &str) -> Result<Zeroizing<String>, WalletError> {
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|e| WalletError::Invalid(format!("cannot read from the terminal: {e}")))
}

/// A BIP39 passphrase for `new --with-passphrase`: from `WALLET_BIP39_PASSPHRASE` or asked
/// twice on the terminal.
pub fn new_passphrase() -> Result<Zeroizing<String>, WalletError> {
    if let Ok(value) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Zeroizing::new(value));
    }
    let first = hidden_required("bip39 passphrase: ")?;
    let again = hidden_required("repeat the bip39 passphrase: ")?;
    if *first != *again {
        return Err(WalletError::Invalid(
            "the two passphrases differ; nothing was written".into(),
        ));
    }
    Ok(first)
}

/// Asks "send? [y/N]" on stderr and reads the answer from standard input.
pub fn confirm(question: &str) -> Result<(), WalletError> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question} [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| WalletError::Io {
            action: "read",
            path: "standard input".into(),
            source,
        })?;
    if read == 0 {
        return Err(WalletError::NotConfirmed(
            "not sent: no answer to the confirmation (standard input is closed); pass --yes to send without asking".into(),
        ));
    }
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(WalletError::NotConfirmed("not sent: cancelled".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_line_end_is_stripped() {
        assert_eq!(strip_line_end("pw\n"), "pw");
        assert_eq!(strip_line_end("pw\r\n"), "pw");
        assert_eq!(strip_line_end(" pw \n\n"), " pw \n");
        assert_eq!(strip_line_end("pw"), "pw");
    }
}
