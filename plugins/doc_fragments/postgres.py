# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by the database modules (plugins/module_utils/pg.py's argument spec)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description: Host of the PostgreSQL server (or pgBouncer), or a unix socket directory.
    type: str
    default: 127.0.0.1
    aliases: [host]
  login_port:
    description: Port of the server.
    type: int
    default: 5432
    aliases: [port]
  login_user:
    description: Role to connect as (see the module's description for the privileges it needs).
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user). Never logged.
    type: str
    default: ""
  login_db:
    description: Database to connect to.
    type: str
    default: postgres
    aliases: [db]
  ssl_mode:
    description: libpq C(sslmode) of the connection; use V(verify-full) with O(ca_cert) over TCP.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description: CA certificate that signs the server's certificate (libpq C(sslrootcert)).
    type: path
    aliases: [ssl_rootcert]
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 10
requirements:
  - psycopg >= 3.1
"""
