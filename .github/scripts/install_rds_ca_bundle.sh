#!/usr/bin/env bash
# Installs AWS's RDS global CA bundle where the connection secrets name it (aws_rds_ssl_root_cert:
# /etc/ssl/certs/rds-global-bundle.pem), for the schema layer's TLS connections to RDS from the
# in-VPC runner (docs/adr/0007-in-vpc-deploy-runner.md). Refuses anything but a PEM bundle of
# Amazon RDS certificate authorities.
set -euo pipefail
url="https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
target="${1:-/etc/ssl/certs/rds-global-bundle.pem}"
bundle=$(mktemp)
trap 'rm -f "$bundle"' EXIT
curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 --max-time 60 -o "$bundle" "$url"
count=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$bundle" || true)
if [ "$count" -lt 1 ]; then
  echo "::error::$url is not a PEM bundle"
  exit 1
fi
# Every certificate of the bundle is an Amazon RDS CA.
awk '/-----BEGIN CERTIFICATE-----/{n++} {print > ("/tmp/rds-ca-" n ".pem")}' "$bundle"
for cert in /tmp/rds-ca-*.pem; do
  subject=$(openssl x509 -in "$cert" -noout -subject)
  case "$subject" in
    *"Amazon RDS"*) ;;
    *) echo "::error::not an Amazon RDS CA in the bundle: $subject"; exit 1 ;;
  esac
done
rm -f /tmp/rds-ca-*.pem
if [ "$(id -u)" -eq 0 ]; then install -m 0644 "$bundle" "$target"; else sudo install -m 0644 "$bundle" "$target"; fi
echo "$target: $count Amazon RDS certificate authorities"
