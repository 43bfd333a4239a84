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
    let mut clouds = format!(
        "# Written by strata: admin credentials for cloud {cloud}, one entry per region.\nclouds:\n"
    );
    let mut files = Vec::new();
    for (i, (region, url)) in endpoints.iter().enumerate() {
        let names = if i == 0 {
            vec![cloud.clone(), format!("{cloud}-{region}")]
        } else {
            vec![format!("{cloud}-{region}")]
        };
        for name in names {
            clouds.push_str(&format!(
                "  {name}:\n    auth:\n      auth_url: {url}\n      username: admin\n      password: '{password}'\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: {region}\n    interface: public\n    identity_api_version: 3\n"
            ));
        }
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
