//! The tools that talk to a running node through its control socket, or work on a
//! file: `devices`, `status`, `audio`, `introspect`, `export`.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use canopy_node::audio::{AudioControl, MAX_GAIN};
use canopy_node::control::{self, Request};

use crate::args::DataArg;
use crate::peer::data_dir;

/// `canopy devices`: the sound host and its devices, defaults marked.
pub fn print_devices(json: bool) -> Result<()> {
    let (host, devices) = canopy_node::devices::list()?;
    if json {
        let listing = serde_json::json!({ "host": host, "devices": devices });
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(());
    }
    println!("sound host: {host}");
    if devices.is_empty() {
        println!("no sound devices (Canopy runs without audio devices; --audio-in/--audio-out use files)");
    }
    for device in devices {
        let mut kinds = Vec::new();
        if device.input {
            kinds.push(if device.default_input {
                "input*"
            } else {
                "input"
            });
        }
        if device.output {
            kinds.push(if device.default_output {
                "output*"
            } else {
                "output"
            });
        }
        let native = device
            .native
            .map(|(rate, channels)| format!("{rate} Hz, {channels} ch"))
            .unwrap_or_default();
        println!(
            "{:<14} {:<40} {:<16} {}",
            kinds.join(","),
            device.name,
            native,
            device.description
        );
    }
    println!("(* the system default; pass a name to --input-device / --output-device)");
    Ok(())
}

/// `canopy status`: the running node's status, as JSON.
pub async fn status(data: DataArg) -> Result<()> {
    let status = control::request(&data_dir(data.data)?, &Request::Status).await?;
    println!("{}", serde_json::to_string_pretty(&status)?);
    Ok(())
}

/// `canopy revoke`: revokes an invite of the session the running node hosts.
pub async fn revoke(data: DataArg, invite: String, remove_edits: bool) -> Result<()> {
    let request = Request::Revoke {
        invite,
        remove_edits,
    };
    let answer = control::request(&data_dir(data.data)?, &request)
        .await
        .context("revoking the invite")?;
    let grant = answer["revoked"].as_str().unwrap_or("?");
    if remove_edits {
        println!(
            "revoked {grant}: it admits no one now, whoever joined with it is cut off, \
             and everything they did is removed everywhere"
        );
    } else {
        println!("revoked {grant}: it admits no one now, and whoever joined with it is cut off");
    }
    Ok(())
}

/// `canopy audio`: mute, unmute and volumes of a running node.
pub async fn audio(
    data: DataArg,
    mute: bool,
    unmute: bool,
    master: Option<f32>,
    volume: Vec<(u64, f32)>,
) -> Result<()> {
    let mut controls = Vec::new();
    if mute || unmute {
        controls.push(AudioControl::Mute(mute));
    }
    if let Some(gain) = master {
        if !(0.0..=MAX_GAIN).contains(&gain) {
            bail!("--master goes from 0 to {MAX_GAIN}");
        }
        controls.push(AudioControl::Master(gain));
    }
    controls.extend(
        volume
            .into_iter()
            .map(|(link, gain)| AudioControl::Volume { link, gain }),
    );
    if controls.is_empty() {
        bail!("say what to change: --mute, --unmute, --master GAIN or --volume LINK=GAIN");
    }
    let dir = data_dir(data.data)?;
    for control in controls {
        control::request(&dir, &Request::Audio(control)).await?;
    }
    Ok(())
}

/// `canopy introspect`: the running node's component graph.
pub async fn introspect(data: DataArg, dot: bool) -> Result<()> {
    let graph = control::request(&data_dir(data.data)?, &Request::Introspect { dot }).await?;
    match graph {
        serde_json::Value::String(dot) => print!("{dot}"),
        json => println!("{}", serde_json::to_string_pretty(&json)?),
    }
    Ok(())
}

/// `canopy export`: a .canopy file, or the running node's document, to PNG/SVG/PDF.
pub async fn export(file: Option<PathBuf>, data: DataArg, out: PathBuf, page: usize) -> Result<()> {
    let format = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .context("the output file needs an extension: .png, .svg or .pdf")?;
    let bytes = match file {
        Some(file) => {
            let store = canopy_node::storage::Store::open_read_only(&file)?;
            canopy_node::session::render(&store.document()?, &format, page)
                .map_err(anyhow::Error::msg)?
        }
        None => {
            let answer =
                control::request(&data_dir(data.data)?, &Request::Export { format, page }).await?;
            let encoded = answer
                .as_str()
                .context("the node's answer is not understood")?;
            data_encoding::BASE64
                .decode(encoded.as_bytes())
                .context("the node's answer is not understood")?
        }
    };
    std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
