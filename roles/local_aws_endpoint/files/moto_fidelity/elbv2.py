"""Elastic Load Balancing v2: the attributes AWS gives for every application load balancer."""

from __future__ import annotations

from . import Fix, extend_backend

LOAD_BALANCER_ATTRIBUTE = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_LoadBalancerAttribute.html"
)

# DescribeLoadBalancerAttributes of a new application load balancer: every attribute of an
# application load balancer with its default (the reference lists each with its default).
APPLICATION_DEFAULTS = {
    "access_logs.s3.enabled": "false",
    "access_logs.s3.bucket": "",
    "access_logs.s3.prefix": "",
    "client_keep_alive.seconds": "3600",
    "connection_logs.s3.enabled": "false",
    "connection_logs.s3.bucket": "",
    "connection_logs.s3.prefix": "",
    "deletion_protection.enabled": "false",
    "idle_timeout.timeout_seconds": "60",
    "load_balancing.cross_zone.enabled": "true",
    "routing.http.desync_mitigation_mode": "defensive",
    "routing.http.drop_invalid_header_fields.enabled": "false",
    "routing.http.preserve_host_header.enabled": "false",
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": "false",
    "routing.http.xff_client_port.enabled": "false",
    "routing.http.xff_header_processing.mode": "append",
    "routing.http2.enabled": "true",
    "waf.fail_open.enabled": "false",
    "zonal_shift.config.enabled": "false",
}


class ApplicationAttributesAsAWS:
    """ELBv2 backend whose application load balancers answer every attribute AWS gives them.

    moto gave five (two of them commented out "for TF compatibility"), so a stock module that
    reads ``idle_timeout.timeout_seconds`` or ``access_logs.s3.enabled`` failed with a KeyError.
    Attributes already set keep their value.
    """

    def create_load_balancer(self, *args, **kwargs):
        balancer = super().create_load_balancer(*args, **kwargs)
        if balancer.type == "application":
            defaults = dict(APPLICATION_DEFAULTS)
            # "false for internet-facing load balancers and true for internal load balancers"
            defaults["ipv6.deny_all_igw_traffic"] = "true" if balancer.scheme == "internal" else "false"
            balancer.attrs = {**defaults, **balancer.attrs}
            # load balancing across zones is always on for application load balancers
            balancer.attrs["load_balancing.cross_zone.enabled"] = "true"
        return balancer


def _apply() -> None:
    extend_backend("moto.elbv2.models", "elbv2_backends", ApplicationAttributesAsAWS)


FIXES = [
    Fix(
        service="elbv2",
        name="application-load-balancer-attributes",
        summary=(
            "DescribeLoadBalancerAttributes of an application load balancer gives all its attributes with "
            "their defaults (moto: five, without access_logs.s3.enabled and idle_timeout.timeout_seconds; "
            "amazon.aws.elb_application_lb failed with a KeyError)"
        ),
        reference=LOAD_BALANCER_ATTRIBUTE,
        upstream=(
            "not in moto 5.2.6; upstream left access_logs.s3.enabled and idle_timeout.timeout_seconds out on "
            "purpose ('commented out for TF compatibility', elbv2/models.py)"
        ),
        apply=_apply,
    ),
]
