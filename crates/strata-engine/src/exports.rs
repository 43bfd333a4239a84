//! What a deployment hands to others: each Ceph cluster's name, fsid, monitors and client
//! key, in TripleO's `CephExternalMultiConfig` shape, so a stack deployed by other tools (or
//! a cloud deployed from another spec) can use strata's clusters; and the other way round,
//! the client key of an existing (external) cluster, read from the deployer's keyring file.

use std::path::Path;

use strata_model::Model;

use crate::{EngineError, State};

/// A cluster the export cannot describe yet, or a keyring that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("Ceph cluster `{cluster}` has no keys yet: deploy the spec first (`strata deploy`)")]
    NotDeployed { cluster: String },
    #[error("no Ceph cluster at site `{site}`")]
    NoCluster { site: String },
    #[error("keyring {path} of external Ceph cluster `{cluster}`: {why}")]
    Keyring {
        cluster: String,
        path: String,
        why: String,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The secret holding `user`'s key of `cluster` (what the templates read).
pub fn client_key_secret(cluster: &str, user: &str) -> String {
    format!("ceph-{cluster}-client-{user}")
}

/// YAML for TripleO's `parameter_defaults: CephExternalMultiConfig`, one entry per cluster
/// strata deploys (those of `site` only, when given). The text holds keys: the caller writes
/// it with mode 0600 and never prints it.
pub fn ceph_export(
    model: &Model,
    state: &State,
    site: Option<&str>,
) -> Result<String, ExportError> {
    let clusters: Vec<&strata_model::CephCluster> = match site {
        Some(name) => {
            let found = model
                .site_by_name(name)
                .and_then(|s| model.sites[s].ceph)
                .ok_or_else(|| ExportError::NoCluster { site: name.into() })?;
            vec![&model.ceph[found]]
        }
        None => model.ceph.iter().collect(),
    };
    let mut out = format!(
        "# Written by strata: the Ceph clusters of cloud {}, for TripleO's CephExternalMultiConfig.\n# Holds client keys: keep it mode 0600.\nparameter_defaults:\n  CephExternalMultiConfig:\n",
        model.cloud
    );
    for c in clusters {
        let (fsid, mons, user, key) = match &c.external {
            Some(e) => (
                e.fsid.clone(),
                e.mon_hosts
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>(),
                e.user.clone(),
                state.existing_secret(&client_key_secret(&c.name, &e.user))?,
            ),
            None => (
                state
                    .existing_secret(&format!("ceph-{}-fsid", c.name))?
                    .unwrap_or_default(),
                c.mons
                    .iter()
                    .map(|&m| model.hosts[m].ip.to_string())
                    .collect(),
                "openstack".to_owned(),
                state.existing_secret(&client_key_secret(&c.name, "openstack"))?,
            ),
        };
        let Some(key) = key.filter(|_| !fsid.is_empty()) else {
            return Err(ExportError::NotDeployed {
                cluster: c.name.clone(),
            });
        };
        let osd_caps = c
            .pools
            .iter()
            .map(|p| format!("profile rbd pool={}", p.name))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "    - cluster: {name}\n      fsid: {fsid}\n      external_cluster_mon_ips: \"{mons}\"\n      keys:\n        - name: client.{user}\n          key: \"{key}\"\n          mode: \"0600\"\n          caps:\n            mon: \"profile rbd\"\n            osd: \"{osd_caps}\"\n      ceph_conf_overrides:\n        client:\n          keyring: /etc/ceph/{name}.client.{user}.keyring\n      dashboard_enabled: false\n",
            name = c.name,
            mons = mons.join(","),
        ));
    }
    Ok(out)
}

/// Reads each external cluster's client key from the keyring file the spec names (on this
/// machine) into the state, where templates find it like a generated key. Called before a
/// deploy touches any host; a missing or unreadable keyring is an error naming the file.
pub fn import_external_keys(model: &Model, state: &State) -> Result<(), ExportError> {
    for c in &model.ceph {
        let Some(e) = &c.external else { continue };
        let fail = |why: String| ExportError::Keyring {
            cluster: c.name.clone(),
            path: e.keyring.clone(),
            why,
        };
        let text =
            std::fs::read_to_string(Path::new(&e.keyring)).map_err(|err| fail(format!("{err}")))?;
        let key = keyring_key(&text, &format!("client.{}", e.user)).ok_or_else(|| {
            fail(format!(
                "no `key =` in a [client.{}] section; export it with `ceph auth get client.{}`",
                e.user, e.user
            ))
        })?;
        state.set_secret(&client_key_secret(&c.name, &e.user), &key)?;
    }
    Ok(())
}

/// The key of `entity` in a Ceph keyring (`[client.x]` then `key = ...`).
pub fn keyring_key(text: &str, entity: &str) -> Option<String> {
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = section.trim() == entity;
        } else if inside {
            if let Some((name, value)) = line.split_once('=') {
                if name.trim() == "key" && !value.trim().is_empty() {
                    return Some(value.trim().to_owned());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::keyring_key;

    #[test]
    fn a_keyring_yields_the_key_of_its_entity_only() {
        let text = "[client.admin]\n\tkey = AQADMIN==\n[client.openstack]\n\tkey = AQOPEN==\n\tcaps mon = \"profile rbd\"\n";
        assert_eq!(
            keyring_key(text, "client.openstack").as_deref(),
            Some("AQOPEN==")
        );
        assert_eq!(
            keyring_key(text, "client.admin").as_deref(),
            Some("AQADMIN==")
        );
        assert_eq!(keyring_key(text, "client.glance"), None);
        assert_eq!(
            keyring_key("[client.openstack]\n\tkey =\n", "client.openstack"),
            None
        );
    }
}
