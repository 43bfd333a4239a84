//! The operator's admin credentials on the deployer's machine: a clouds.yaml with a cloud per
//! region (and the cloud's name for the first), and an openrc per region, so the `openstack`
//! CLI works at once. The caller writes them with mode 0600.

use strata_catalog::Catalog;
use strata_model::Model;

use crate::{EngineError, State};

/// A file for the operator: its name in the cloud's state directory and its content.
pub struct OperatorFile {
    pub name: String,
    pub content: String,
}

/// The files, when the cloud runs Keystone; none otherwise.
pub fn operator_files(
    model: &Model,
    catalog: &Catalog,
    state: &State,
) -> Result<Vec<OperatorFile>, EngineError> {
    let endpoints = crate::views::identity_endpoints(model, catalog);
    if endpoints.is_empty() {
        return Ok(Vec::new());
    }
    let password = state.secret("keystone-admin")?;
    let cloud = &model.cloud;
    let clouds = clouds_yaml(cloud, &endpoints, &password);
    let mut files = Vec::new();
    for (region, url) in &endpoints {
        files.push(OperatorFile {
            name: format!("openrc-{region}"),
            content: format!(
                "# Written by strata: admin credentials for region {region} of cloud {cloud}.\nexport OS_AUTH_URL={url}\nexport OS_IDENTITY_API_VERSION=3\nexport OS_USERNAME=admin\nexport OS_PASSWORD='{password}'\nexport OS_PROJECT_NAME=admin\nexport OS_USER_DOMAIN_NAME=Default\nexport OS_PROJECT_DOMAIN_NAME=Default\nexport OS_REGION_NAME={region}\nexport OS_INTERFACE=public\n"
            ),
        });
    }
    files.insert(
        0,
        OperatorFile {
            name: "clouds.yaml".into(),
            content: clouds,
        },
    );
    Ok(files)
}

/// clouds.yaml: an entry per region (the cloud's own name for the first), each listing the
/// regions its identity endpoint serves (`regions:`), so that a recent openstacksdk accepts
/// `--os-cloud CLOUD --os-region-name dcn0`.
fn clouds_yaml(cloud: &str, endpoints: &[(String, String)], password: &str) -> String {
    let mut text = format!(
        "# Written by strata: admin credentials for cloud {cloud}, one entry per region.\nclouds:\n"
    );
    for (i, (region, url)) in endpoints.iter().enumerate() {
        let served: Vec<&str> = endpoints
            .iter()
            .filter(|(_, u)| u == url)
            .map(|(r, _)| r.as_str())
            .collect();
        let names = if i == 0 {
            vec![cloud.to_owned(), format!("{cloud}-{region}")]
        } else {
            vec![format!("{cloud}-{region}")]
        };
        for name in names {
            text.push_str(&format!(
                "  {name}:\n    auth:\n      auth_url: {url}\n      username: admin\n      password: '{password}'\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: {region}\n    regions: [{}]\n    interface: public\n    identity_api_version: 3\n",
                served.join(", ")
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_entry_lists_the_regions_its_identity_endpoint_serves() {
        let central = "http://10.10.0.5:5000/v3".to_owned();
        let endpoints = [
            ("regionOne".to_owned(), central.clone()),
            ("dcn0".to_owned(), central.clone()),
            (
                "regionTwo".to_owned(),
                "http://10.20.0.5:5000/v3".to_owned(),
            ),
        ];
        let text = super::clouds_yaml("edge", &endpoints, "pw");
        let doc = strata_source::parse_yaml(strata_source::FileId(0), &text).unwrap();
        let regions = |entry: &str| -> Vec<String> {
            doc.get("clouds")
                .unwrap()
                .get(entry)
                .unwrap()
                .get("regions")
                .unwrap()
                .as_seq()
                .unwrap()
                .iter()
                .filter_map(|r| r.scalar_text().map(str::to_owned))
                .collect()
        };
        assert_eq!(regions("edge"), ["regionOne", "dcn0"]);
        assert_eq!(regions("edge-dcn0"), ["regionOne", "dcn0"]);
        assert_eq!(regions("edge-regionTwo"), ["regionTwo"]);
    }
}
