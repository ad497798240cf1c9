"""`paxlock certs` (issue 17): init, node, client and token make files that
the openssl command accepts, with the names, key usages, modes and refusals
of docs/OPERATIONS.md, "Certificates". No cluster is started."""
import hashlib
import os
import stat
import subprocess
import tempfile
import unittest

from harness import BIN

PAXLOCK = os.path.join(BIN, "paxlock")
TIMEOUT_S = 30


def run(*args, check=True):
    r = subprocess.run([PAXLOCK, *args], capture_output=True, text=True, timeout=TIMEOUT_S)
    if check and r.returncode != 0:
        raise AssertionError(f"paxlock {' '.join(args)}: exit {r.returncode}: {r.stderr}")
    return r


def openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=TIMEOUT_S)


class CertsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="paxlock-certs-")
        self.dir = os.path.join(self.tmp.name, "certs")
        run("certs", "init", "--dir", self.dir, "--cluster-id", "prod-locks")

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def mode(self, name):
        return stat.S_IMODE(os.stat(self.path(name)).st_mode)

    def test_init_makes_a_ca_key_readable_by_its_owner_only(self):
        self.assertEqual(self.mode("ca.key"), 0o600)
        self.assertEqual(self.mode("ca.crt"), 0o644)
        r = openssl("x509", "-noout", "-subject", "-ext", "basicConstraints", "-in",
                    self.path("ca.crt"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("O = prod-locks", r.stdout)
        self.assertIn("CA:TRUE", r.stdout)

    def test_a_node_certificate_verifies_and_names_the_node_and_its_hosts(self):
        r = run("certs", "node", "--dir", self.dir, "--id", "3", "--host", "db3.example",
                "--host", "127.0.0.1")
        self.assertEqual(r.stdout.split(), [self.path("node-3.crt"), self.path("node-3.key")])
        v = openssl("verify", "-CAfile", self.path("ca.crt"), self.path("node-3.crt"))
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertIn(": OK", v.stdout)
        san = openssl("x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage", "-in",
                      self.path("node-3.crt"))
        self.assertEqual(san.returncode, 0, san.stderr)
        self.assertIn("DNS:node-3.prod-locks, DNS:db3.example, IP Address:127.0.0.1", san.stdout)
        self.assertIn("TLS Web Server Authentication, TLS Web Client Authentication", san.stdout)
        self.assertEqual(self.mode("node-3.key"), 0o600)
        # the key is the certificate's
        pub_cert = openssl("x509", "-noout", "-pubkey", "-in", self.path("node-3.crt")).stdout
        pub_key = openssl("pkey", "-pubout", "-in", self.path("node-3.key")).stdout
        self.assertTrue(pub_cert.startswith("-----BEGIN PUBLIC KEY"))
        self.assertEqual(pub_cert, pub_key)

    def test_a_client_certificate_is_for_client_authentication_only(self):
        run("certs", "client", "--dir", self.dir, "--name", "alice")
        v = openssl("verify", "-CAfile", self.path("ca.crt"), "-purpose", "sslclient",
                    self.path("client-alice.crt"))
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        as_server = openssl("verify", "-CAfile", self.path("ca.crt"), "-purpose", "sslserver",
                            self.path("client-alice.crt"))
        self.assertNotEqual(as_server.returncode, 0, as_server.stdout)
        x = openssl("x509", "-noout", "-subject", "-ext", "extendedKeyUsage,subjectAltName",
                    "-in", self.path("client-alice.crt"))
        self.assertIn("CN = alice", x.stdout)
        self.assertIn("TLS Web Client Authentication", x.stdout)
        self.assertNotIn("Server", x.stdout)
        self.assertNotIn("Subject Alternative Name", x.stdout)

    def test_nothing_is_replaced_without_force(self):
        with open(self.path("ca.key")) as f:
            key = f.read()
        r = run("certs", "init", "--dir", self.dir, "--cluster-id", "prod-locks", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("ca.key exists (--force replaces it)", r.stderr)
        with open(self.path("ca.key")) as f:
            self.assertEqual(f.read(), key)
        run("certs", "init", "--dir", self.dir, "--cluster-id", "prod-locks", "--force")
        with open(self.path("ca.key")) as f:
            self.assertNotEqual(f.read(), key)
        self.assertEqual([n for n in os.listdir(self.dir) if ".tmp." in n], [])

    def test_refusals_name_the_reason(self):
        cases = [
            (("certs", "node", "--dir", self.dir, "--id", "2", "--cluster-id", "other"), 1,
             "the CA in " + self.dir + " is of cluster 'prod-locks', not 'other'"),
            (("certs", "client", "--dir", self.dir, "--name", "node-2.prod-locks"), 2,
             "starts with 'node-'"),
            (("certs", "init", "--dir", self.dir + "2", "--cluster-id", "bad id"), 2,
             "cannot be part of a certificate's DNS name"),
            (("certs", "node", "--dir", self.tmp.name, "--id", "1"), 1,
             "certificate file " + self.tmp.name + "/ca.crt: missing"),
        ]
        for args, code, text in cases:
            with self.subTest(args=args):
                r = run(*args, check=False)
                self.assertEqual(r.returncode, code, r.stderr)
                self.assertIn(text, r.stderr)

    def test_a_token_is_printed_once_and_only_its_hash_is_kept(self):
        r = run("certs", "token", "--dir", self.dir, "--name", "alice")
        token = r.stdout.strip()
        self.assertRegex(token, r"^pxl_[0-9a-f]{64}$")
        with open(self.path("tokens")) as f:
            text = f.read()
        self.assertNotIn(token, text)
        self.assertIn(f"alice {hashlib.sha256(token.encode()).hexdigest()}\n", text)
        self.assertEqual(self.mode("tokens"), 0o600)
        second = run("certs", "token", "--dir", self.dir, "--name", "alice").stdout.strip()
        self.assertNotEqual(second, token)
        with open(self.path("tokens")) as f:
            self.assertEqual(len([l for l in f if l.startswith("alice ")]), 2)


if __name__ == "__main__":
    unittest.main()
