// Who a verified certificate says its holder is (docs/OPERATIONS.md,
// "Certificates").
//
// Nodes. A node's certificate names `node-<id>.<cluster_id>` as a DNS
// subjectAltName (and as its CN) and has the Extended Key Usages serverAuth
// and clientAuth: replicas connect to each other both ways, so the same
// certificate serves as either end. A peer is the node its certificate names,
// and nothing else: `certificate_names_node` is the check the peer port makes
// against the id a hello claims.
//
// Clients. A client's identity is the CN of a certificate with the Extended
// Key Usage clientAuth and without serverAuth. A certificate with serverAuth
// is a node's and is never a client identity; one without serverAuth is never
// a node. Client names follow `valid_client_name` (which refuses `node-...`),
// and the bearer tokens (tokens.h) name identities by the same rule, so an
// identity is the same string however it was proven.
//
// The CN counts only when a certificate has no DNS subjectAltName (RFC 6125):
// a node certificate made elsewhere with SANs only is still read correctly.
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace paxlock::tls {

// `node-<id>.<cluster_id>`.
std::string node_identity(uint32_t node_id, std::string_view cluster_id);

// Why a cluster id cannot be part of a certificate name, or nullopt: 1 to 200
// characters of letters, digits, '-' and '.' (a DNS name's alphabet).
std::optional<std::string> invalid_cluster_id(std::string_view cluster_id);
// Why a client name cannot be an identity, or nullopt: 1 to 64 characters of
// letters, digits, '-', '_', '.' and '@', not starting with "node-" (a
// node's names) and not with '-' or '.'.
std::optional<std::string> invalid_client_name(std::string_view name);

// The names of a certificate: its DNS subjectAltNames in their order, or, if
// it has none, its CN; empty if it has neither.
std::vector<std::string> certificate_names(X509* cert);

// Is `name` some node's identity in `cluster_id` (node-<digits>.<cluster_id>,
// ASCII case ignored)?
bool is_node_identity(std::string_view name, std::string_view cluster_id);

// OK if `cert` is node `node_id`'s of cluster `cluster_id`: one of its names
// is node_identity(node_id, cluster_id) (ASCII case ignored, as in DNS), no
// name is another node's of the cluster (a certificate naming two nodes
// would let one node's key pass as the other), and it may serve both ends
// (serverAuth and clientAuth). Otherwise the reason,
// naming what the certificate does name. The chain must already be verified
// (the handshake does it); this only reads names.
Status certificate_names_node(X509* cert, uint32_t node_id, std::string_view cluster_id);

// The client identity of a verified certificate: its CN, if it has
// clientAuth, lacks serverAuth and the CN is a valid client name; otherwise
// the reason.
Result<std::string> client_identity(X509* cert);

}  // namespace paxlock::tls
