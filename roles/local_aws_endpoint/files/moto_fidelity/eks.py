"""EKS: a managed node group as DescribeNodegroup gives it."""

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

# EKS's update configuration of a node group created without one (one node at a time).
DEFAULT_UPDATE_CONFIG = {"maxUnavailable": 1}


def _minor(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
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


_routed = []


def _route_eks_responses() -> None:
    from moto.eks.responses import EKSResponse

    if not _routed:
        response = type("FaithfulEKSResponse", (NodegroupRequestAsAWS, EKSResponse), {})
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
]
