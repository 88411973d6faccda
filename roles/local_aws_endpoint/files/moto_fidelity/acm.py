"""ACM: an imported certificate's chain, as GetCertificate gives it."""

from __future__ import annotations

from . import Fix, extend_backend

GET_CERTIFICATE = "https://docs.aws.amazon.com/acm/latest/APIReference/API_GetCertificate.html"
IMPORT_CERTIFICATE = "https://docs.aws.amazon.com/acm/latest/APIReference/API_ImportCertificate.html"


class ImportedChainAsAWS:
    """ACM backend whose imported certificates keep the chain they were imported with.

    ACM did not issue an imported certificate, so its chain is the one the caller gave
    (ImportCertificate's CertificateChain), with no Amazon root after it; without a chain, the
    certificate itself (what community.aws.acm_certificate compares an import made without a chain
    with). moto appended its Amazon root CA to every chain, so the stock module re-imported the same
    certificate on every run.
    """

    def import_certificate(self, certificate, private_key, chain, arn, tags):
        imported = super().import_certificate(certificate, private_key, chain, arn, tags)
        bundle = self._certificates[imported]
        given = chain if chain else certificate
        bundle.chain = given if given.endswith(b"\n") else given + b"\n"
        return imported


def _apply() -> None:
    extend_backend("moto.acm.models", "acm_backends", ImportedChainAsAWS)


FIXES = [
    Fix(
        service="acm",
        name="imported-certificate-chain",
        summary=(
            "GetCertificate of an imported certificate gives the chain it was imported with, or the "
            "certificate "
            "itself without one (moto: that chain plus an Amazon root CA, so community.aws.acm_certificate "
            "re-imported the same certificate on every run)"
        ),
        reference=f"{GET_CERTIFICATE}; {IMPORT_CERTIFICATE}",
        upstream="not in moto 5.2.6 (acm/models.py CertBundle appends AWS_ROOT_CA to every chain)",
        apply=_apply,
    ),
]
