//! Native file dialogs (rfd), or a message in the window saying why there
//! is none and what to install. rfd reaches the desktop portal over D-Bus
//! and falls back to zenity; where neither runs (a bare window manager, a
//! VNC or X-forwarded session on a GPU box) it returns nothing and logs the
//! reason to the terminal only. Every path these dialogs fill can also be
//! typed or pasted into its field.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to ask the user for.
#[derive(Debug, Clone, Copy)]
pub enum Pick<'a> {
    /// An existing file, with a filter `(name, extensions)`.
    Open(&'a str, &'a [&'a str]),
    /// A file to write, with a filter and a suggested name.
    Save(&'a str, &'a [&'a str], &'a str),
    /// An existing folder.
    Folder,
}

/// What to install for dialogs, shown with every failure.
const INSTALL_HINT: &str =
    "install a desktop portal (xdg-desktop-portal-gtk) or zenity for file dialogs, or type or paste the path into the field";

/// Shows the dialog. `Ok(None)` when the user closed it; `Err` with what to
/// do when no dialog can be shown here (or it vanished at once, which no
/// person can do).
pub fn pick(what: Pick<'_>) -> Result<Option<PathBuf>, String> {
    if let Some(why) = unavailable() {
        return Err(format!("No file dialog: {why}; {INSTALL_HINT}."));
    }
    let started = Instant::now();
    let picked = match what {
        Pick::Open(name, ext) => rfd::FileDialog::new().add_filter(name, ext).pick_file(),
        Pick::Save(name, ext, file) => rfd::FileDialog::new().add_filter(name, ext).set_file_name(file).save_file(),
        Pick::Folder => rfd::FileDialog::new().pick_folder(),
    };
    match picked {
        None if started.elapsed() < Duration::from_millis(150) => {
            Err(format!("The file dialog failed to open (the terminal says why); {INSTALL_HINT}."))
        }
        p => Ok(p),
    }
}

/// Why no dialog can open here, if that is known beforehand: on Linux and
/// the BSDs rfd needs a D-Bus session bus (for the portal) or zenity.
fn unavailable() -> Option<String> {
    if !cfg!(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd", target_os = "netbsd")) {
        return None;
    }
    let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some();
    let zenity = std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join("zenity").is_file()));
    missing(bus, zenity)
}

/// What is missing for a dialog, given whether a session bus and zenity are there.
fn missing(bus: bool, zenity: bool) -> Option<String> {
    (!bus && !zenity).then(|| "no D-Bus session bus (for the desktop portal) and no zenity".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_without_portal_or_zenity_gets_a_message_with_what_to_install() {
        assert_eq!(missing(true, false), None);
        assert_eq!(missing(false, true), None);
        let why = missing(false, false).unwrap();
        assert!(why.contains("D-Bus") && why.contains("zenity"), "{why}");
        if cfg!(target_os = "linux") && unavailable().is_some() {
            // As on a bare X server (CI): the dialog is not even tried, and the message says what to do.
            let err = pick(Pick::Folder).unwrap_err();
            assert!(err.contains("xdg-desktop-portal-gtk") && err.contains("type or paste"), "{err}");
        }
    }
}
