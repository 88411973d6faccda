"""WAFv2: the resources a web ACL protects (ListResourcesForWebACL), one web ACL per resource."""

from __future__ import annotations

import json
import re

from . import Fix, extend_backend, route_responses

LIST_RESOURCES = "https://docs.aws.amazon.com/waf/latest/APIReference/API_ListResourcesForWebACL.html"
ASSOCIATE = "https://docs.aws.amazon.com/waf/latest/APIReference/API_AssociateWebACL.html"

# ListResourcesForWebACL's ResourceType: which ARNs each value lists ("If you don't provide a
# resource type, the call uses the resource type APPLICATION_LOAD_BALANCER.")
RESOURCE_TYPES = {
    "APPLICATION_LOAD_BALANCER": r"^arn:[^:]+:elasticloadbalancing:[^:]*:[^:]*:loadbalancer/app/",
    "API_GATEWAY": r"^arn:[^:]+:apigateway:[^:]*::/restapis/[^/]+/stages/",
    "APPSYNC": r"^arn:[^:]+:appsync:",
    "COGNITO_USER_POOL": r"^arn:[^:]+:cognito-idp:",
    "APP_RUNNER_SERVICE": r"^arn:[^:]+:apprunner:",
    "VERIFIED_ACCESS_INSTANCE": r"^arn:[^:]+:ec2:[^:]*:[^:]*:verified-access-instance/",
    "AMPLIFY": r"^arn:[^:]+:amplify:",
}


class OneWebACLPerResource:
    """WAFv2 backend in which associating a resource moves it from the ACL that protected it.

    "A resource can only be associated with one web ACL" (AssociateWebACL); moto kept the resource
    in both lists.
    """

    def associate_web_acl(self, web_acl_arn, resource_arn):
        if web_acl_arn in self.wacls:
            for acl in self.wacls.values():
                if resource_arn in acl.associated_resources:
                    acl.associated_resources.remove(resource_arn)
        return super().associate_web_acl(web_acl_arn, resource_arn)


class ListResourcesForWebACL:
    """WAFv2 responses with ListResourcesForWebACL (moto answered 500: not implemented)."""

    def list_resources_for_web_acl(self):
        from moto.wafv2.exceptions import WAFNonexistentItemException

        body = json.loads(self.body)
        acl = self.wafv2_backend.wacls.get(body["WebACLArn"])
        if acl is None:
            raise WAFNonexistentItemException()
        pattern = re.compile(
            RESOURCE_TYPES.get(body.get("ResourceType") or "APPLICATION_LOAD_BALANCER", "$^")
        )
        arns = [arn for arn in acl.associated_resources if pattern.search(arn)]
        return 200, {"Content-Type": "application/json"}, json.dumps({"ResourceArns": arns})


def _apply() -> None:
    from moto.wafv2.responses import WAFV2Response

    extend_backend("moto.wafv2.models", "wafv2_backends", OneWebACLPerResource)
    response = type("FaithfulWAFV2Response", (ListResourcesForWebACL, WAFV2Response), {})
    route_responses("moto.wafv2.urls", WAFV2Response, response)


FIXES = [
    Fix(
        service="wafv2",
        name="list-resources-for-web-acl",
        summary=(
            "ListResourcesForWebACL lists the ACL's resources of the requested type (application load "
            "balancers "
            "by default), and AssociateWebACL moves a resource from the ACL that protected it (moto: 500 not "
            "implemented, which community.aws.wafv2_resources calls; a resource kept in two ACLs)"
        ),
        reference=f"{LIST_RESOURCES}; {ASSOCIATE}",
        upstream="not in moto 5.2.6 (wafv2/responses.py has no list_resources_for_web_acl)",
        apply=_apply,
    ),
]
