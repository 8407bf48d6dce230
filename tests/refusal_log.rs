//! A flood of refused connections against the real `moxide serve` binary logs one line
//! per listener and core for the first refusal and one summary with the count of the rest
//! (written when the window ends or the listener stops), not a line per connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Client, Server, write_serve_config};

const DOMAINS: &str = r#"
postmaster_account = "alice"
[domains."example.org"]
[accounts.alice]
addresses = ["alice@example.org"]
"#;

/// Connections refused in the flood.
const FLOOD: usize = 200;

#[test]
fn a_refusal_flood_logs_a_summary_not_a_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_serve_config(dir.path(), "connections_max = 1\n", &[("smtp", "")], DOMAINS);
    let config = config.display().to_string();
    let mut server = Server::start_args(dir.path(), &["serve", "--config", &config], &[]);

    let mut holder = Client::connect(server.smtp).unwrap();
    assert_eq!(holder.reply().unwrap().code, 220);
    for _ in 0..FLOOD {
        let mut refused = Client::connect(server.smtp).unwrap();
        let reply = refused.reply().unwrap();
        assert_eq!(reply.code, 421, "{reply:?}");
    }
    // Stopping the listener writes the summary of the window so far.
    let (status, _) = server.terminate(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");

    let log = server.log();
    let single = log.lines().filter(|line| line.contains("connection refused")).count();
    assert!((1..=2).contains(&single), "one line per core at most, got {single}:\n{log}");
    let summarized: usize = log
        .lines()
        .filter(|line| line.contains("more connections refused in the last window"))
        .map(|line| {
            let count = line.split("listener_full=").nth(1).and_then(|rest| rest.split(' ').next());
            count.and_then(|n| n.parse::<usize>().ok()).expect("a count in the summary")
        })
        .sum();
    assert_eq!(single + summarized, FLOOD, "every refusal counted once:\n{log}");
}
