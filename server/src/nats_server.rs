//! A nats-server with JetStream as a child process, for what runs a whole cluster on one
//! machine: the cluster tests and `renewtwin loadtest --cluster`. A deployment starts its own
//! nats-server (README, "Running a city"); a replica never starts one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started nats-server has to listen.
const START_WITHIN: Duration = Duration::from_secs(15);

/// Why a nats-server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum NatsServerError {
    /// No `nats-server` on `PATH` nor where Debian installs it.
    #[error("no nats-server found (Debian: apt install nats-server; scripts/setup.sh --test installs it)")]
    NotFound,
    /// The store folder or the process could not be made.
    #[error("cannot start {what}")]
    Start {
        /// What was being made.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// It started but does not listen.
    #[error("nats-server does not listen on 127.0.0.1:{port} within {} s", START_WITHIN.as_secs())]
    NotListening {
        /// The port it was told to use.
        port: u16,
    },
}

/// The nats-server executable: on `PATH`, else where Debian's package puts it.
pub fn find() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    on_path
        .map(|dir| dir.join("nats-server"))
        .chain(["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].map(PathBuf::from))
        .find(|p| p.is_file())
}

/// A nats-server with JetStream on a free loopback port, its store in a folder of its own;
/// killed when dropped (the folder stays: its owner removes it).
#[derive(Debug)]
pub struct NatsServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts `bin` (see [`find`]) with its JetStream store in `dir` and waits until it listens.
    pub fn start(bin: PathBuf, dir: &Path) -> Result<Self, NatsServerError> {
        let start = |what: &str| {
            let what = what.to_owned();
            move |source| NatsServerError::Start { what, source }
        };
        std::fs::create_dir_all(dir).map_err(start(&format!("nats-server: its store folder {}", dir.display())))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(start("nats-server: no free loopback port"))?
            .port();
        let mut server = Self { bin, dir: dir.to_path_buf(), port, child: None };
        server.restart()?;
        Ok(server)
    }

    /// Its client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again, on the same port and store) and waits until it listens.
    pub fn restart(&mut self) -> Result<(), NatsServerError> {
        self.kill();
        let child = Command::new(&self.bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| NatsServerError::Start { what: self.bin.display().to_string(), source })?;
        self.child = Some(child);
        let deadline = Instant::now() + START_WITHIN;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(NatsServerError::NotListening { port: self.port });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Kills the server (SIGKILL): what JetStream acknowledged is in its store folder.
    pub fn kill(&mut self) {
        kill_child(&mut self.child);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kills `child` (SIGKILL) and reaps it, if there is one; leaves `None`.
pub fn kill_child(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        // Already gone is fine: either way it no longer runs once reaped.
        let _killed = c.kill();
        let _reaped = c.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_executable_is_a_clear_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("renewtwin-nats-missing-{}", std::process::id()));
        let err = NatsServer::start(PathBuf::from("/nonexistent/nats-server"), &dir).expect_err("cannot start");
        assert!(err.to_string().contains("/nonexistent/nats-server"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
