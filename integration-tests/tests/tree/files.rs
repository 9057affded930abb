//! `.canopy` files: resumed after restarts and crashes, exported offline, and bad
//! files refused without being touched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{assert_converged, canopy, code_as_protocol_4, script, wait_until, Node};

fn session_file(node: &Node) -> PathBuf {
    let dir = node.data.join("sessions");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "canopy"))
        .expect("a .canopy file")
}

fn canopy_fails(args: &[&str]) -> String {
    let output = Command::new(canopy()).args(args).output().unwrap();
    assert!(!output.status.success(), "canopy {args:?} should fail");
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn export_file(file: &Path, out: &Path) {
    let output = Command::new(canopy())
        .args([
            "export",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_session_survives_restarts_and_exports_offline_like_live() {
    let scripts = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", crate::util::free_port());
    let mut a = Node::host(
        "a",
        &[
            "--listen",
            &listen,
            "--draw",
            script(scripts.path(), "a", 30, 0, "").to_str().unwrap(),
        ],
    );
    let b = Node::join(
        "b",
        a.editor_url(),
        &[
            "--draw",
            script(scripts.path(), "b", 30, 0, "").to_str().unwrap(),
        ],
    );
    assert_converged(&[&a, &b], 60, Duration::from_secs(20));
    let before = a.status();
    let out = tempfile::tempdir().unwrap();
    let live = out.path().join("live.png");
    let output = Command::new(canopy())
        .args([
            "export",
            "--data",
            a.data.to_str().unwrap(),
            "--out",
            live.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(output.status.success());

    assert!(a.terminate().success());
    let file = session_file(&a);
    let offline = out.path().join("offline.png");
    export_file(&file, &offline);
    assert_eq!(
        std::fs::read(&live).unwrap(),
        std::fs::read(&offline).unwrap(),
        "same pixels from the file"
    );
    let store = canopy_node::storage::Store::open_read_only(&file).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert_eq!(store.op_count().unwrap(), before["ops"].as_u64().unwrap());
    // The file is plain SQLite: the sqlite3 shell (make test installs it) agrees.
    let shell = Command::new("sqlite3")
        .arg(&file)
        .arg("PRAGMA integrity_check; SELECT COUNT(*) FROM ops;")
        .output()
        .expect("sqlite3 (Debian's sqlite3; make test installs it)");
    assert_eq!(
        String::from_utf8_lossy(&shell.stdout),
        format!("ok\n{}\n", before["ops"])
    );

    // The host comes back with the same session, document and identity.
    let data = a.data.clone();
    let again = Node::start_in("a", &["host"], &["--listen", &listen], data);
    let after = again.status();
    assert_eq!(after["session"], before["session"]);
    assert_eq!(after["digest"], before["digest"]);
    assert_eq!(after["node"], before["node"]);
    // b rejoins it by itself.
    assert!(wait_until(Duration::from_secs(30), || again.status()
        ["children"]
        .as_array()
        .unwrap()
        .len()
        == 1));
}

#[test]
fn a_killed_node_resumes_from_its_file_and_catches_up() {
    let scripts = tempfile::tempdir().unwrap();
    // The host draws a long storm; the child is killed in the middle, several times.
    let a = Node::host(
        "a",
        &[
            "--draw",
            script(scripts.path(), "storm", 1500, 2, "")
                .to_str()
                .unwrap(),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let mut b = Node::start_in("b", &["join", a.editor_url()], &[], data.clone());
    let mut last = 0;
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(300 + 250 * round));
        b.kill();
        let file = session_file(&b);
        let store = canopy_node::storage::Store::open_read_only(&file).unwrap();
        assert_eq!(store.integrity_check().unwrap(), "ok", "round {round}");
        let saved = store.op_count().unwrap();
        assert!(
            saved >= last,
            "round {round}: the file lost ops ({saved} < {last})"
        );
        last = saved;
        drop(store);
        b = Node::start_in("b", &["join", a.editor_url()], &[], data.clone());
        let resumed = b.status()["ops"].as_u64().unwrap();
        assert!(
            resumed >= saved,
            "round {round}: resumed {resumed} of {saved} saved ops"
        );
    }
    assert_converged(&[&a, &b], 1500, Duration::from_secs(60));
}

#[test]
fn bad_files_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");

    let random = dir.path().join("random.canopy");
    std::fs::write(
        &random,
        (0..5000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();

    // A real file, then a copy cut in half, and a copy claiming a future format.
    let made = tempfile::tempdir().unwrap();
    let mut host = Node::start_in(
        "h",
        &["host"],
        &[
            "--draw",
            script(dir.path(), "h", 200, 0, "").to_str().unwrap(),
        ],
        made.path().to_path_buf(),
    );
    assert!(wait_until(Duration::from_secs(20), || host.status()
        ["strokes"]
        == 200));
    assert!(host.terminate().success());
    let real = session_file(&host);

    let truncated = dir.path().join("truncated.canopy");
    let bytes = std::fs::read(&real).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    let future = dir.path().join("future.canopy");
    std::fs::copy(&real, &future).unwrap();
    rusqlite::Connection::open(&future)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();

    let newer = format!(
        "was written by a newer Canopy (format 99; this build reads up to {})",
        canopy_node::storage::FORMAT_VERSION
    );
    let cases = [
        (&random, "is not a Canopy document"),
        (&truncated, "is damaged or truncated"),
        (&future, newer.as_str()),
    ];
    for (file, expected) in cases {
        let before = std::fs::read(file).unwrap();
        let said = canopy_fails(&[
            "export",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(said.contains(expected), "{}: {said}", file.display());
        let data = tempfile::tempdir().unwrap();
        let said = canopy_fails(&[
            "open",
            file.to_str().unwrap(),
            "--headless",
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.path().to_str().unwrap(),
        ]);
        assert!(said.contains(expected), "{}: {said}", file.display());
        assert_eq!(
            std::fs::read(file).unwrap(),
            before,
            "{} was modified",
            file.display()
        );
    }
    let said = canopy_fails(&[
        "export",
        "/nonexistent.canopy",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        said.contains("/nonexistent.canopy does not exist"),
        "{said}"
    );
}

#[test]
fn opening_someone_elses_file_hosts_it_as_a_new_session() {
    let scripts = tempfile::tempdir().unwrap();
    let mut a = Node::host(
        "a",
        &[
            "--draw",
            script(scripts.path(), "a", 40, 0, "").to_str().unwrap(),
        ],
    );
    assert!(wait_until(Duration::from_secs(20), || a.status()
        ["strokes"]
        == 40));
    let before = a.status();
    assert!(a.terminate().success());
    let file = session_file(&a);
    let elsewhere = tempfile::tempdir().unwrap();
    let b = Node::start_in(
        "b",
        &["open", file.to_str().unwrap()],
        &[],
        elsewhere.path().to_path_buf(),
    );
    let status = b.status();
    // The same drawing, made again as b's own signed ops (ids differ, so compare
    // pictures: the digest names strokes by id).
    assert_eq!(status["picture"], before["picture"], "the same drawing");
    assert_ne!(status["session"], before["session"], "a session of b's own");
    assert_eq!(
        status["imported"][0].as_str(),
        file.to_str(),
        "status says whose drawing it now is"
    );
    let viewer = Node::join("v", b.viewer_url(), &[]);
    assert_converged(&[&b, &viewer], 40, Duration::from_secs(20));
    // b's own file holds the opened document (copied in the background), so b
    // resumes it without the original.
    let mut b = b;
    assert!(b.terminate().success());
    std::fs::remove_file(&file).unwrap();
    let own = session_file(&b);
    let resumed = Node::start_in(
        "b",
        &["open", own.to_str().unwrap()],
        &[],
        elsewhere.path().to_path_buf(),
    );
    assert_eq!(resumed.status()["picture"], before["picture"]);
    assert_eq!(resumed.status()["session"], status["session"]);
}

/// `canopy open` reads the file it is given and never writes it: an old (format 1)
/// file stays byte for byte what it was, and its drawing is hosted all the same.
#[test]
fn an_opened_file_is_read_never_written_even_an_old_one() {
    let scripts = tempfile::tempdir().unwrap();
    let mut a = Node::host(
        "a",
        &[
            "--no-audio",
            "--draw",
            script(scripts.path(), "a", 10, 0, "").to_str().unwrap(),
        ],
    );
    assert!(wait_until(Duration::from_secs(20), || a.status()
        ["strokes"]
        == 10));
    let before = a.status();
    assert!(a.terminate().success());
    // What a file written before audio was kept looks like: format 1.
    let old_dir = tempfile::tempdir().unwrap();
    let old = old_dir.path().join("old.canopy");
    std::fs::copy(session_file(&a), &old).unwrap();
    code_as_protocol_4(&old);
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch("DROP TABLE audio; PRAGMA user_version = 1; PRAGMA journal_mode = DELETE;")
        .unwrap();
    let bytes = std::fs::read(&old).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut b = Node::start_in(
        "b",
        &["open", old.to_str().unwrap()],
        &["--no-audio"],
        elsewhere.path().to_path_buf(),
    );
    assert_eq!(b.status()["picture"], before["picture"], "the same drawing");
    assert!(b.terminate().success());
    assert!(
        std::fs::read(&old).unwrap() == bytes,
        "opening the file changed it"
    );
}

/// A recorded session, replayed ten times faster, ends as the live one did; played
/// into a live session, the live session ends up showing it; started past its end,
/// everything appears at once.
#[test]
fn recordings_play_back_hosted_into_a_live_session_and_from_a_point() {
    let scripts = tempfile::tempdir().unwrap();
    let mut a = Node::host(
        "a",
        &[
            "--draw",
            script(scripts.path(), "a", 20, 100, "").to_str().unwrap(),
        ],
    );
    assert!(wait_until(Duration::from_secs(20), || a.status()
        ["strokes"]
        == 20));
    let recorded = a.status()["picture"].clone();
    assert!(a.terminate().success());
    let file = session_file(&a);
    let file = file.to_str().unwrap();

    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let replay = Node::start_in(
        "replay",
        &["play", file, "--speed", "10"],
        &[],
        dirs[0].path().to_path_buf(),
    );
    let watcher = Node::join("w", replay.viewer_url(), &[]);
    for node in [&replay, &watcher] {
        assert!(
            wait_until(Duration::from_secs(20), || node.status()["picture"]
                == recorded),
            "{} did not end with the recorded drawing",
            node.name
        );
    }

    let live = Node::host("live", &[]);
    let _player = Node::start_in(
        "player",
        &["play", file, "--speed", "100", "--into", live.editor_url()],
        &[],
        dirs[1].path().to_path_buf(),
    );
    assert!(wait_until(Duration::from_secs(20), || live.status()
        ["picture"]
        == recorded));

    let mut jumped = Node::start_in(
        "jumped",
        &["play", file, "--from", "3600"],
        &[],
        dirs[2].path().to_path_buf(),
    );
    assert!(wait_until(Duration::from_secs(5), || jumped.status()
        ["picture"]
        == recorded));
    // The ops before the point were copied into the replay's own file too.
    assert!(jumped.terminate().success());
    let count = |path: &Path| -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("SELECT count(*) FROM ops", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count(&session_file(&jumped)), count(Path::new(file)));

    // Seeking into a live session: what came before the point reaches it at once.
    let second_live = Node::host("second-live", &[]);
    let seek_dir = tempfile::tempdir().unwrap();
    let _seeker = Node::start_in(
        "seeker",
        &[
            "play",
            file,
            "--from",
            "3600",
            "--into",
            second_live.editor_url(),
        ],
        &[],
        seek_dir.path().to_path_buf(),
    );
    assert!(wait_until(Duration::from_secs(10), || second_live.status()
        ["picture"]
        == recorded));
}

/// A host's own session file from before signed authorship (format 2): its ops carry
/// no signatures, so nobody would take them. The host sets the file aside and makes
/// its drawing its own signed import, which a joiner then takes.
#[test]
fn a_hosts_file_from_before_signing_becomes_its_signed_import() {
    let scripts = tempfile::tempdir().unwrap();
    let mut a = Node::host(
        "a",
        &[
            "--no-audio",
            "--draw",
            script(scripts.path(), "a", 12, 0, "").to_str().unwrap(),
        ],
    );
    assert!(wait_until(Duration::from_secs(20), || a.status()
        ["strokes"]
        == 12));
    let before = a.status();
    assert!(a.terminate().success());
    let file = session_file(&a);
    // What format 2 was: no signatures, no authors, no mark.
    code_as_protocol_4(&file);
    rusqlite::Connection::open(&file)
        .unwrap()
        .execute_batch(
            "DROP TABLE signatures; DROP TABLE authors; DROP TABLE evidence;
             DELETE FROM meta WHERE key = 'signed';
             PRAGMA user_version = 2;",
        )
        .unwrap();
    let again = Node::start_in("a", &["host"], &["--no-audio"], a.data.clone());
    let status = again.status();
    assert_eq!(status["session"], before["session"], "the same session");
    assert_eq!(status["picture"], before["picture"], "the same drawing");
    assert!(status["imported"][0]
        .as_str()
        .is_some_and(|f| f.contains(".unsigned-")));
    assert!(
        again
            .log()
            .contains("imported as this node's own signed ops"),
        "{}",
        again.log()
    );
    let set_aside = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .flatten()
        .any(|entry| entry.file_name().to_string_lossy().contains(".unsigned-"));
    assert!(set_aside, "the old file was not kept");
    let joiner = Node::join("b", again.editor_url(), &["--no-audio"]);
    assert_converged(&[&again, &joiner], 12, Duration::from_secs(20));
}

/// A host's own format-4 file whose log breaks the stroke rule (an op between a
/// stroke's start and its end, as nodes signed before protocol 6 when an undo was
/// pressed mid-stroke): every checker now refuses that log, so a joiner could not
/// take it. The file is brought forward unsigned, set aside and imported, and a
/// joiner takes the import.
#[test]
fn a_hosts_file_that_breaks_the_stroke_rule_becomes_its_signed_import() {
    let scripts = tempfile::tempdir().unwrap();
    let mut a = Node::host(
        "a",
        &[
            "--no-audio",
            "--draw",
            script(scripts.path(), "a", 6, 0, "").to_str().unwrap(),
        ],
    );
    assert!(wait_until(Duration::from_secs(20), || a.status()
        ["strokes"]
        == 6));
    let before = a.status();
    assert!(a.terminate().success());
    let file = session_file(&a);
    // Format 4, with the host's second op (its first stroke's points) made a new
    // page: the stroke's end then follows another op.
    let connection = rusqlite::Connection::open(&file).unwrap();
    let (node, payload): (i64, Vec<u8>) = connection
        .query_row(
            "SELECT node, payload FROM ops WHERE seq = 2 ORDER BY node LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let id = canopy_canvas::OpId {
        node: canopy_canvas::NodeId(node as u64),
        seq: 2,
    };
    assert!(matches!(
        canopy_protocol::decode_action(id, &payload),
        Ok(canopy_canvas::Action::StrokePoints { .. })
    ));
    let page =
        canopy_protocol::encode_action(id, &canopy_canvas::Action::NewPage { position: 9.0 });
    connection
        .execute(
            "UPDATE ops SET payload = ?2 WHERE node = ?1 AND seq = 2",
            rusqlite::params![node, page],
        )
        .unwrap();
    connection
        .execute_batch("PRAGMA user_version = 4;")
        .unwrap();
    drop(connection);

    let again = Node::start_in("a", &["host"], &["--no-audio"], a.data.clone());
    let status = again.status();
    assert_eq!(status["session"], before["session"], "the same session");
    assert!(status["imported"][0]
        .as_str()
        .is_some_and(|f| f.contains(".unsigned-")));
    assert!(
        again.log().contains("breaks the stroke rule"),
        "{}",
        again.log()
    );
    let strokes = status["strokes"].as_u64().unwrap();
    assert_eq!(status["pages"], 2, "the page the op became is imported");
    let joiner = Node::join("b", again.editor_url(), &["--no-audio"]);
    assert_converged(&[&again, &joiner], strokes, Duration::from_secs(20));
}

/// A joiner's file is gone but its key (`DATA/node.key`) is not: it joins again and
/// draws at once. Its earlier ops come back from the host; what it draws now must go
/// on from them. Before, it either signed new ops under its old numbers (a second log:
/// all its strokes left out everywhere) or could not edit at all.
#[test]
fn a_joiner_that_lost_its_file_goes_on_with_its_own_log() {
    let scripts = tempfile::tempdir().unwrap();
    let a = Node::host("a", &["--no-audio"]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let first = script(scripts.path(), "first", 20, 0, "");
    let mut b = Node::start_in(
        "b",
        &["join", a.editor_url()],
        &["--no-audio", "--draw", first.to_str().unwrap()],
        data.clone(),
    );
    assert_converged(&[&a, &b], 20, Duration::from_secs(20));
    let node = b.status()["node"].clone();
    b.kill();
    std::fs::remove_dir_all(data.join("sessions")).unwrap();
    let again = script(scripts.path(), "again", 10, 0, "");
    let b = Node::start_in(
        "b",
        &["join", a.editor_url()],
        &["--no-audio", "--draw", again.to_str().unwrap()],
        data,
    );
    assert_eq!(b.status()["node"], node, "the same author");
    assert_converged(&[&a, &b], 30, Duration::from_secs(30));
    for status in [a.status(), b.status()] {
        assert_eq!(status["left_out"], 0, "no author left out: {status}");
    }
}
