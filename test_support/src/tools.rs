//! External tools the tests drive (installed by `scripts/test-tools.sh`, which `.ci/run`
//! calls). A missing tool fails the test with how to install it, unless the test is
//! skipped on purpose with `FERRO_SKIP_EXTERNAL_TOOLS=1`.

use std::path::{Path, PathBuf};

/// Where `scripts/test-tools.sh` puts its virtualenv, from the workspace root.
const VENV: &str = ".venv-test-tools";

/// Whether tests that need external tools were asked to skip.
pub fn skipped() -> bool {
    std::env::var("FERRO_SKIP_EXTERNAL_TOOLS").is_ok_and(|v| v == "1")
}

/// The workspace root (the folder holding `Cargo.lock`), from this crate's folder.
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

/// The `schemathesis` command: `$SCHEMATHESIS`, the workspace's venv, or `PATH`.
pub fn schemathesis() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("SCHEMATHESIS") {
        return Ok(PathBuf::from(path));
    }
    let venv = workspace_root().join(VENV).join("bin").join("schemathesis");
    if venv.exists() {
        return Ok(venv);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("schemathesis"))
        .find(|p| p.exists());
    on_path.ok_or_else(|| {
        anyhow::anyhow!(
            "schemathesis is not installed: run scripts/test-tools.sh (or set SCHEMATHESIS, \
             or FERRO_SKIP_EXTERNAL_TOOLS=1 to skip the tests that need it)"
        )
    })
}

/// The `promtool` command (Debian's `prometheus` package): `$PROMTOOL` or `PATH`.
pub fn promtool() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("PROMTOOL") {
        return Ok(PathBuf::from(path));
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("promtool"))
        .find(|p| p.exists())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "promtool is not installed: apt-get install prometheus (.ci/run does), or set \
                 PROMTOOL, or FERRO_SKIP_EXTERNAL_TOOLS=1 to skip the tests that need it"
            )
        })
}

/// Runs `promtool check metrics` over an exposition text: `Ok(())` when it finds no
/// problem, otherwise its complaints.
pub fn promtool_check_metrics(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(promtool()?)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        anyhow::bail!(
            "promtool check metrics failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}
