"""KMS: Sign and Verify of a message digest (MessageType DIGEST), as AWS does them."""

from __future__ import annotations

import base64
import json

from moto.core.exceptions import JsonRESTError
from moto.kms.exceptions import ValidationException
from moto.kms.responses import KmsResponse
from moto.kms.utils import ECDSAPrivateKey, RSAPrivateKey

from . import Fix, extend_backend, route_responses

SIGN = "https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html"
VERIFY = "https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html"


class KMSInvalidSignatureException(JsonRESTError):
    code = 400

    def __init__(self) -> None:
        super().__init__("KMSInvalidSignatureException", "")


def _hash(algorithm: str):
    from cryptography.hazmat.primitives import hashes

    return {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}[algorithm[-3:]]()


def _scheme(key, algorithm: str, digest: bytes):
    """(private key, padding args) to sign or verify an already-hashed message with `algorithm`."""
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

    chosen = _hash(algorithm)
    if len(digest) != chosen.digest_size:
        raise ValidationException(
            f"Digest is invalid length for algorithm {algorithm}: "
            f"{len(digest)} bytes, {chosen.digest_size} expected."
        )
    prehashed = utils.Prehashed(chosen)
    if isinstance(key.private_key, ECDSAPrivateKey):
        return key.private_key.private_key, (ec.ECDSA(prehashed),)
    if isinstance(key.private_key, RSAPrivateKey):
        if "_PSS_" in algorithm:
            # moto's RAW signatures use the maximum salt length; keep DIGEST the same.
            pad = padding.PSS(mgf=padding.MGF1(_hash(algorithm)), salt_length=padding.PSS.MAX_LENGTH)
        else:
            pad = padding.PKCS1v15()
        return key.private_key.private_key, (pad, prehashed)
    raise ValidationException(f"{algorithm} with MessageType DIGEST is not supported for this key spec")


class DigestSigningAsAWS:
    """KMS backend that signs and verifies a digest the caller computed (MessageType DIGEST).

    AWS signs the given digest as is; moto ignored MessageType and hashed the digest again, so a
    signature made with MessageType DIGEST did not verify with the key's public key.
    """

    def sign_digest(self, key_id: str, digest: bytes, signing_algorithm: str) -> tuple[str, bytes, str]:
        key = self.describe_key(key_id)
        self._KmsBackend__ensure_valid_sign_and_verify_key(key)
        self._KmsBackend__ensure_valid_signing_algorithm(key, signing_algorithm)
        private, args = _scheme(key, signing_algorithm, digest)
        return key.arn, private.sign(digest, *args), signing_algorithm

    def verify_digest(
        self, key_id: str, digest: bytes, signature: bytes, signing_algorithm: str
    ) -> tuple[str, bool, str]:
        from cryptography.exceptions import InvalidSignature

        key = self.describe_key(key_id)
        self._KmsBackend__ensure_valid_sign_and_verify_key(key)
        self._KmsBackend__ensure_valid_signing_algorithm(key, signing_algorithm)
        private, args = _scheme(key, signing_algorithm, digest)
        try:
            private.public_key().verify(signature, digest, *args)
        except InvalidSignature:
            return key.arn, False, signing_algorithm
        return key.arn, True, signing_algorithm


class DigestSigningResponse(KmsResponse):
    """Sign and Verify with MessageType DIGEST go to the backend's digest methods."""

    def _digest_request(self) -> tuple[str, bytes, str] | None:
        if self._get_param("MessageType") != "DIGEST":
            return None
        message = self._get_param("Message")
        digest = base64.b64decode(message) if isinstance(message, str) else message
        return self._get_param("KeyId"), digest, self._get_param("SigningAlgorithm")

    def sign(self) -> str:
        request = self._digest_request()
        if request is None:
            return super().sign()
        self._validate_key_id(request[0])
        arn, signature, algorithm = self.kms_backend.sign_digest(*request)
        return json.dumps(
            {
                "KeyId": arn,
                "Signature": base64.b64encode(signature).decode("utf-8"),
                "SigningAlgorithm": algorithm,
            }
        )

    def verify(self) -> str:
        request = self._digest_request()
        if request is None:
            return super().verify()
        key_id, digest, algorithm = request
        self._validate_key_id(key_id)
        signature = base64.b64decode(self._get_param("Signature"))
        arn, valid, algorithm = self.kms_backend.verify_digest(key_id, digest, signature, algorithm)
        if not valid:
            raise KMSInvalidSignatureException()
        return json.dumps({"KeyId": arn, "SignatureValid": True, "SigningAlgorithm": algorithm})


def _apply() -> None:
    extend_backend("moto.kms.models", "kms_backends", DigestSigningAsAWS)
    route_responses("moto.kms.urls", KmsResponse, DigestSigningResponse)


FIXES = [
    Fix(
        service="kms",
        name="sign-verify-digest",
        summary=(
            "Sign and Verify with MessageType DIGEST sign the given digest as is (moto hashed it again, "
            "so the signature did not verify with the public key from GetPublicKey)"
        ),
        reference=f"{SIGN}; {VERIFY}",
        upstream=(
            "not in moto 5.2.6 (kms/models.py verify: "
            "'The MessageType-parameter DIGEST is not yet implemented')"
        ),
        apply=_apply,
    ),
]
