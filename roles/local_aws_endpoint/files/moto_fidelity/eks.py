"""EKS: a managed node group as DescribeNodegroup gives it; EKS add-ons."""

from __future__ import annotations

from . import Fix, extend_backend, route_responses

NODEGROUP = "https://docs.aws.amazon.com/eks/latest/APIReference/API_Nodegroup.html"
TAG_RESOURCE = "https://docs.aws.amazon.com/eks/latest/APIReference/API_TagResource.html"
LIST_TAGS = "https://docs.aws.amazon.com/eks/latest/APIReference/API_ListTagsForResource.html"
UPDATE_NODEGROUP_VERSION = (
    "https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateNodegroupVersion.html"
)
CREATE_NODEGROUP = "https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html"
# "Starting with Kubernetes version 1.30 or newer, any newly created managed node groups will
# automatically default to using Amazon Linux 2023 (AL2023) as the node operating system."
AL2023_DEFAULT = "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions-standard.html"

CREATE_ADDON = "https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAddon.html"
DESCRIBE_ADDON = "https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeAddon.html"
UPDATE_ADDON = "https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateAddon.html"
DELETE_ADDON = "https://docs.aws.amazon.com/eks/latest/APIReference/API_DeleteAddon.html"
LIST_ADDONS = "https://docs.aws.amazon.com/eks/latest/APIReference/API_ListAddons.html"
DESCRIBE_ADDON_VERSIONS = "https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeAddonVersions.html"
ADDON = "https://docs.aws.amazon.com/eks/latest/APIReference/API_Addon.html"

# The add-ons the endpoint knows and their versions (DescribeAddonVersions). EKS's own catalogue
# cannot be read here: the versions are releases of the add-on's project (vpc-cni: the tags v1.22.4
# and v1.23.0 of github.com/aws/amazon-vpc-cni-k8s, 2026-07-08 and 2026-07-31) with the endpoint's
# own build suffix; the older one is the default, as EKS marks a proven version default rather than
# its newest. Never a pin of the product: the product asks DescribeAddonVersions.
ADDON_CLUSTER_VERSIONS = ("1.30", "1.31", "1.32", "1.33", "1.34", "1.35", "1.36")
ADDON_CATALOGUE = {
    "vpc-cni": {
        "type": "networking",
        "versions": {"v1.23.0-eksbuild.1": False, "v1.22.4-eksbuild.1": True},
        "requiresIamPermissions": True,
    },
}

# EKS's update configuration of a node group created without one (one node at a time).
DEFAULT_UPDATE_CONFIG = {"maxUnavailable": 1}


def _minor(version: str) -> tuple[int, int]:
    major, _dot, minor = version.partition(".")
    try:
        return int(major), int(minor.split(".")[0])
    except ValueError:
        return 0, 0


class NodegroupAsAWS:
    """EKS backend whose node groups carry what EKS sets when the request leaves it out.

    - ``updateConfig`` (moto left it out; community.aws.eks_nodegroup reads it on every update);
    - ``version``: the cluster's Kubernetes version (moto: 1.19);
    - ``amiType``: when the request names none, AL2023_x86_64_STANDARD for a cluster of 1.30 or
      later and AL2_x86_64 before (moto: always AL2_x86_64);
    - with a launch template, no ``diskSize`` and no ``instanceTypes`` unless requested (moto: 20
      and t3.medium).
    """

    def create_nodegroup(self, cluster_name, node_role, nodegroup_name, subnets, **kwargs):
        cluster = self.clusters.get(cluster_name)
        if cluster is not None:
            if not kwargs.get("version"):
                kwargs["version"] = cluster.version
            if not kwargs.get("ami_type"):
                modern = _minor(kwargs["version"] or "") >= (1, 30)
                kwargs["ami_type"] = "AL2023_x86_64_STANDARD" if modern else "AL2_x86_64"
        nodegroup = super().create_nodegroup(cluster_name, node_role, nodegroup_name, subnets, **kwargs)
        if not nodegroup.update_config:
            nodegroup.update_config = dict(DEFAULT_UPDATE_CONFIG)
        if kwargs.get("launch_template"):
            # "If the node group was deployed with a launch template, then this is null." (diskSize;
            # instanceTypes too unless the request named them)
            nodegroup.disk_size = None
            if not kwargs.get("instance_types"):
                nodegroup.instance_types = None
        return nodegroup


class NodegroupTagsAsAWS:
    """EKS backend that tags node groups too ("Amazon EKS clusters and managed node groups", TagResource).

    moto tagged, untagged and listed the tags of clusters only and answered ResourceNotFoundException
    for a node group's ARN, on which community.aws.eks_nodegroup failed on a second run.
    """

    def _nodegroup_by_arn(self, resource_arn):
        for cluster in self.clusters.values():
            for nodegroup in cluster.nodegroups.values():
                if nodegroup.arn == resource_arn:
                    return nodegroup
        return None

    def tag_resource(self, resource_arn, tags):
        nodegroup = self._nodegroup_by_arn(resource_arn)
        if nodegroup is None:
            return super().tag_resource(resource_arn, tags)
        nodegroup.tags.update(tags)

    def untag_resource(self, resource_arn, tag_keys):
        nodegroup = self._nodegroup_by_arn(resource_arn)
        if nodegroup is None:
            return super().untag_resource(resource_arn, tag_keys)
        for key in tag_keys if isinstance(tag_keys, list) else [tag_keys]:
            nodegroup.tags.pop(key, None)

    def list_tags_for_resource(self, resource_arn):
        nodegroup = self._nodegroup_by_arn(resource_arn)
        return super().list_tags_for_resource(resource_arn) if nodegroup is None else nodegroup.tags

    def update_nodegroup_version(
        self, cluster_name, nodegroup_name, launch_template=None, version=None, release_version=None
    ):
        """UpdateNodegroupVersion: a node group's launch template version, Kubernetes or AMI release."""
        from moto.core.utils import utcnow
        from moto.moto_api._internal import mock_random

        nodegroup = self.describe_nodegroup(cluster_name=cluster_name, nodegroup_name=nodegroup_name)
        params = []
        if launch_template:
            current = dict(nodegroup.launch_template or {})
            current.update({key: value for key, value in launch_template.items() if value})
            nodegroup.launch_template = current
            params.append({"type": "LaunchTemplateVersion", "value": str(current.get("version", ""))})
        if version:
            nodegroup.version = version
            params.append({"type": "Version", "value": version})
        if release_version:
            nodegroup.release_version = release_version
            params.append({"type": "ReleaseVersion", "value": release_version})
        nodegroup.modified_at = utcnow()
        return {
            "id": str(mock_random.uuid4()),
            "status": "Successful",
            "type": "VersionUpdate",
            "params": params,
            "createdAt": utcnow(),
            "errors": [],
        }


class NodegroupRequestAsAWS:
    """EKS responses that keep a CreateNodegroup request's ``updateConfig`` (moto dropped it)."""

    def create_nodegroup(self):
        answer = super().create_nodegroup()
        update_config = self._get_param("updateConfig")
        if update_config:
            nodegroup = self.eks_backend.describe_nodegroup(
                cluster_name=self._get_param("name"), nodegroup_name=self._get_param("nodegroupName")
            )
            nodegroup.update_config = update_config
        return answer

    def update_nodegroup_version(self):
        from moto.core.responses import ActionResult

        update = self.eks_backend.update_nodegroup_version(
            cluster_name=self._get_param("name"),
            nodegroup_name=self._get_param("nodegroupName"),
            launch_template=self._get_param("launchTemplate"),
            version=self._get_param("version"),
            release_version=self._get_param("releaseVersion"),
        )
        return ActionResult({"update": update})


def _apply_nodegroup() -> None:
    extend_backend("moto.eks.models", "eks_backends", NodegroupAsAWS)
    _route_eks_responses()


def _apply_nodegroup_tags() -> None:
    extend_backend("moto.eks.models", "eks_backends", NodegroupTagsAsAWS)


def _apply_update_nodegroup_version() -> None:
    import importlib

    _route_eks_responses()
    urls = importlib.import_module("moto.eks.urls")
    path = "{0}/clusters/(?P<name>[^/]+)/node-groups/(?P<nodegroupName>[^/]+)/update-version$"
    # The same handler as the node group's other paths (the response class routes by operation).
    urls.url_paths.setdefault(
        path, urls.url_paths["{0}/clusters/(?P<name>[^/]+)/node-groups/(?P<nodegroupName>[^/]+)$"]
    )


class AddonsAsAWS:
    """EKS backend with add-ons (moto 5.2: none, every add-on path answered 404).

    CreateAddon, DescribeAddon, UpdateAddon, DeleteAddon and ListAddons on a cluster, and
    DescribeAddonVersions from ADDON_CATALOGUE, as the API reference documents them: an add-on's
    version must be one the catalogue lists for the cluster's Kubernetes version (EKS's default when
    the request names none); configurationValues must be a JSON object; a second CreateAddon is
    ResourceInUseException; a missing add-on ResourceNotFoundException; TagResource, UntagResource
    and ListTagsForResource take an add-on's ARN; a deleted cluster takes its add-ons with it.
    Changes apply at once (status ACTIVE).
    """

    def _addons(self):
        if not hasattr(self, "_faithful_addons"):
            self._faithful_addons = {}
        return self._faithful_addons

    def _addon_versions(self, addon_name, cluster_version=None):
        known = ADDON_CATALOGUE.get(addon_name)
        if known is None or (cluster_version and cluster_version not in ADDON_CLUSTER_VERSIONS):
            return {}
        return dict(known["versions"])

    def _addon(self, cluster_name, addon_name):
        from moto.eks.exceptions import ResourceNotFoundException

        self.describe_cluster(name=cluster_name)
        found = self._addons().get((cluster_name, addon_name))
        if found is None:
            raise ResourceNotFoundException(
                clusterName=cluster_name,
                nodegroupName=None,
                fargateProfileName=None,
                addonName=addon_name,
                message=f"No addon: {addon_name} found in cluster: {cluster_name}",
            )
        return found

    def _checked_version(self, cluster, addon_name, version):
        from moto.eks.exceptions import InvalidParameterException

        versions = self._addon_versions(addon_name, cluster.version)
        if not versions:
            raise InvalidParameterException(
                message=f"Addon {addon_name} specified is not supported in {cluster.version} cluster version"
            )
        if not version:
            return next(name for name, default in versions.items() if default)
        if version not in versions:
            raise InvalidParameterException(
                message=f"Addon version specified is not supported, addon: {addon_name}, version: {version}"
            )
        return version

    @staticmethod
    def _checked_configuration(configuration):
        import json

        from moto.eks.exceptions import InvalidParameterException

        if configuration is None:
            return None
        try:
            parsed = json.loads(configuration) if configuration.strip() else {}
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise InvalidParameterException(
                message="ConfigurationValue provided in request is not supported: not a JSON object"
            )
        return configuration

    def create_addon(self, cluster_name, addon_name, request):
        from moto.core.utils import utcnow
        from moto.eks.exceptions import ResourceInUseException
        from moto.moto_api._internal import mock_random

        cluster = self.describe_cluster(name=cluster_name)
        if (cluster_name, addon_name) in self._addons():
            raise ResourceInUseException(
                clusterName=cluster_name,
                nodegroupName=None,
                addonName=addon_name,
                message="Addon already exists.",
            )
        version = self._checked_version(cluster, addon_name, request.get("addonVersion"))
        configuration = self._checked_configuration(request.get("configurationValues"))
        now = utcnow()
        addon = {
            "addonName": addon_name,
            "clusterName": cluster_name,
            "status": "ACTIVE",
            "addonVersion": version,
            "health": {"issues": []},
            "addonArn": (
                f"arn:{self.partition}:eks:{self.region_name}:{self.account_id}:addon/{cluster_name}/"
                f"{addon_name}/{mock_random.uuid4()}"
            ),
            "createdAt": now,
            "modifiedAt": now,
            "tags": dict(request.get("tags") or {}),
            "publisher": "eks",
            "owner": "aws",
        }
        if request.get("serviceAccountRoleArn"):
            addon["serviceAccountRoleArn"] = request["serviceAccountRoleArn"]
        if configuration:
            addon["configurationValues"] = configuration
        self._addons()[(cluster_name, addon_name)] = addon
        return {**addon, "status": "CREATING"}

    def describe_addon(self, cluster_name, addon_name):
        return self._addon(cluster_name, addon_name)

    def update_addon(self, cluster_name, addon_name, request):
        from moto.core.utils import utcnow
        from moto.moto_api._internal import mock_random

        addon = self._addon(cluster_name, addon_name)
        cluster = self.describe_cluster(name=cluster_name)
        params = []
        if request.get("addonVersion"):
            addon["addonVersion"] = self._checked_version(cluster, addon_name, request["addonVersion"])
            params.append({"type": "AddonVersion", "value": addon["addonVersion"]})
        if request.get("serviceAccountRoleArn") is not None:
            if request["serviceAccountRoleArn"]:
                addon["serviceAccountRoleArn"] = request["serviceAccountRoleArn"]
            else:
                addon.pop("serviceAccountRoleArn", None)
            params.append({"type": "ServiceAccountRoleArn", "value": request["serviceAccountRoleArn"]})
        if request.get("resolveConflicts"):
            params.append({"type": "ResolveConflicts", "value": request["resolveConflicts"]})
        if request.get("configurationValues") is not None:
            configuration = self._checked_configuration(request["configurationValues"])
            if configuration:
                addon["configurationValues"] = configuration
            else:
                addon.pop("configurationValues", None)
            params.append({"type": "ConfigurationValues", "value": configuration})
        addon["modifiedAt"] = utcnow()
        return {
            "id": str(mock_random.uuid4()),
            "status": "InProgress",
            "type": "AddonUpdate",
            "params": params,
            "createdAt": addon["modifiedAt"],
            "errors": [],
        }

    def delete_addon(self, cluster_name, addon_name):
        addon = self._addon(cluster_name, addon_name)
        del self._addons()[(cluster_name, addon_name)]
        return {**addon, "status": "DELETING"}

    def list_addons(self, cluster_name):
        self.describe_cluster(name=cluster_name)
        return sorted(name for cluster, name in self._addons() if cluster == cluster_name)

    def describe_addon_versions(self, kubernetes_version=None, addon_name=None):
        answer = []
        for name, known in sorted(ADDON_CATALOGUE.items()):
            if addon_name and name != addon_name:
                continue
            cluster_versions = [
                v for v in ADDON_CLUSTER_VERSIONS if not kubernetes_version or v == kubernetes_version
            ]
            if not cluster_versions:
                continue
            answer.append(
                {
                    "addonName": name,
                    "type": known["type"],
                    "addonVersions": [
                        {
                            "addonVersion": version,
                            "architecture": ["amd64", "arm64"],
                            "computeTypes": ["ec2"],
                            "compatibilities": [
                                {"clusterVersion": v, "platformVersions": ["*"], "defaultVersion": default}
                                for v in cluster_versions
                            ],
                            "requiresConfiguration": False,
                            "requiresIamPermissions": known["requiresIamPermissions"],
                        }
                        for version, default in known["versions"].items()
                    ],
                    "publisher": "eks",
                    "owner": "aws",
                }
            )
        return answer

    def delete_cluster(self, name):
        cluster = super().delete_cluster(name)
        for key in [key for key in self._addons() if key[0] == name]:
            del self._addons()[key]
        return cluster

    def _addon_by_arn(self, resource_arn):
        return next((a for a in self._addons().values() if a["addonArn"] == resource_arn), None)

    def tag_resource(self, resource_arn, tags):
        addon = self._addon_by_arn(resource_arn)
        if addon is None:
            return super().tag_resource(resource_arn, tags)
        addon["tags"].update(tags)

    def untag_resource(self, resource_arn, tag_keys):
        addon = self._addon_by_arn(resource_arn)
        if addon is None:
            return super().untag_resource(resource_arn, tag_keys)
        for key in tag_keys if isinstance(tag_keys, list) else [tag_keys]:
            addon["tags"].pop(key, None)

    def list_tags_for_resource(self, resource_arn):
        addon = self._addon_by_arn(resource_arn)
        return super().list_tags_for_resource(resource_arn) if addon is None else addon["tags"]


_ADDON_REQUEST = ("addonVersion", "serviceAccountRoleArn", "resolveConflicts", "configurationValues", "tags")


class AddonRequestsAsAWS:
    """EKS responses of the add-on operations (AddonsAsAWS's)."""

    def _cluster_param(self):
        return self._get_param("clusterName") or self._get_param("name")

    def _addon_request(self):
        return {key: self._get_param(key) for key in _ADDON_REQUEST}

    def create_addon(self):
        from moto.core.responses import ActionResult

        addon = self.eks_backend.create_addon(
            self._cluster_param(), self._get_param("addonName"), self._addon_request()
        )
        return ActionResult({"addon": addon})

    def describe_addon(self):
        from moto.core.responses import ActionResult

        addon = self.eks_backend.describe_addon(self._cluster_param(), self._get_param("addonName"))
        return ActionResult({"addon": addon})

    def update_addon(self):
        from moto.core.responses import ActionResult

        update = self.eks_backend.update_addon(
            self._cluster_param(), self._get_param("addonName"), self._addon_request()
        )
        return ActionResult({"update": update})

    def delete_addon(self):
        from moto.core.responses import ActionResult

        addon = self.eks_backend.delete_addon(self._cluster_param(), self._get_param("addonName"))
        return ActionResult({"addon": addon})

    def list_addons(self):
        from moto.core.responses import ActionResult

        return ActionResult({"addons": self.eks_backend.list_addons(self._cluster_param())})

    def describe_addon_versions(self):
        from moto.core.responses import ActionResult

        addons = self.eks_backend.describe_addon_versions(
            kubernetes_version=self._get_param("kubernetesVersion"), addon_name=self._get_param("addonName")
        )
        return ActionResult({"addons": addons})


def _apply_addons() -> None:
    import importlib

    extend_backend("moto.eks.models", "eks_backends", AddonsAsAWS)
    _route_eks_responses()
    urls = importlib.import_module("moto.eks.urls")
    handler = urls.url_paths["{0}/clusters/(?P<name>[^/]+)$"]
    for path in (
        "{0}/clusters/(?P<name>[^/]+)/addons$",
        "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$",
        "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)/update$",
        "{0}/addons/supported-versions$",
    ):
        urls.url_paths.setdefault(path, handler)


_routed = []


def _route_eks_responses() -> None:
    from moto.eks.responses import EKSResponse

    if not _routed:
        response = type("FaithfulEKSResponse", (AddonRequestsAsAWS, NodegroupRequestAsAWS, EKSResponse), {})
        route_responses("moto.eks.urls", EKSResponse, response)
        _routed.append(response)


FIXES = [
    Fix(
        service="eks",
        name="nodegroup-update-config-version-ami",
        summary=(
            "a node group has updateConfig (the request's, or maxUnavailable 1), the cluster's Kubernetes "
            "version, EKS's default AMI type for it (AL2023 from 1.30), and with a launch template no "
            "diskSize "
            "nor instanceTypes (moto: no updateConfig, community.aws.eks_nodegroup failed with KeyError "
            "'updateConfig' on a second run; version 1.19, AL2_x86_64, 20 GiB and t3.medium)"
        ),
        reference=f"{NODEGROUP}; {CREATE_NODEGROUP}; {AL2023_DEFAULT}",
        upstream=(
            "not in moto 5.2.6 (eks/responses.py create_nodegroup drops updateConfig; models.py defaults "
            "1.19, AL2_x86_64)"
        ),
        apply=_apply_nodegroup,
    ),
    Fix(
        service="eks",
        name="nodegroup-tags",
        summary=(
            "TagResource, UntagResource and ListTagsForResource take a node group's ARN (moto: clusters "
            "only, "
            "ResourceNotFoundException, on which community.aws.eks_nodegroup failed on a second run)"
        ),
        reference=f"{TAG_RESOURCE}; {LIST_TAGS}",
        upstream="not in moto 5.2.6 (eks/models.py: 'will list tags on an EKS cluster only')",
        apply=_apply_nodegroup_tags,
    ),
    Fix(
        service="eks",
        name="update-nodegroup-version",
        summary=(
            "UpdateNodegroupVersion sets a node group's launch template version, Kubernetes version or AMI "
            "release (moto: 404, which community.aws.eks_nodegroup calls when the launch template has a new "
            "version)"
        ),
        reference=UPDATE_NODEGROUP_VERSION,
        upstream="not in moto 5.2.6 (eks/urls.py has no update-version path)",
        apply=_apply_update_nodegroup_version,
    ),
    Fix(
        service="eks",
        name="addons",
        summary=(
            "CreateAddon, DescribeAddon, UpdateAddon, DeleteAddon, ListAddons and DescribeAddonVersions: "
            "add-ons of a cluster with their version (checked against the endpoint's catalogue of "
            "vpc-cni versions for the cluster's Kubernetes version, its default when none is asked), "
            "configuration values (a JSON object), service account role and tags (moto: 404 on every "
            "add-on path)"
        ),
        reference=(
            f"{CREATE_ADDON}; {DESCRIBE_ADDON}; {UPDATE_ADDON}; {DELETE_ADDON}; {LIST_ADDONS}; "
            f"{DESCRIBE_ADDON_VERSIONS}; {ADDON}; {TAG_RESOURCE}"
        ),
        upstream="not implemented upstream (moto 5.2.6 eks/urls.py has no addons path)",
        apply=_apply_addons,
    ),
]
