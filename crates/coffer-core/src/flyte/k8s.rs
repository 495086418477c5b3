//! Kubernetes names Flyte derives from secrets (spec §3.5, §4.3).

use md5::{Digest, Md5};

use super::flyte_base32;

/// The Kubernetes Secret name of Flyte's embedded K8s manager: lower-case hex md5 of the
/// scoped id (32 characters, a valid DNS label).
pub fn md5_name(scoped_id: &str) -> String {
    hex::encode(Md5::digest(scoped_id.as_bytes()))
}

/// The volume name Flyte's K8s injector gives a secret group: Flyte base32 of
/// `group + "_" + group_version`.
pub fn volume_name(group: &str, group_version: &str) -> String {
    flyte_base32().encode(format!("{group}_{group_version}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vectors() {
        assert_eq!(volume_name("grOUP", ""), "m4ze5vkql3");
        assert_eq!(volume_name("user-info", ""), "ovzwk3rnnfxgm216");
        assert_eq!(volume_name("user-info", "v2"), "ovzwk3rnnfxgm216oyza");
        let group = md5_name("hello");
        assert_eq!(group, "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(volume_name(&group, ""), "gvsdimjugazgcytdgrrdeyjxgzrdsnzrhfsdsmjrgaytoyzvhezf5");
    }
}
