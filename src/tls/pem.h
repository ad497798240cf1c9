// Reading and writing the PEM files of certificates and keys, with errors
// that name the file and what is wrong with it: missing, unreadable, too
// large, not PEM, not the kind of object expected.
//
// Writes are atomic: the bytes go to a temporary file in the same directory
// (created with the final mode, synced), which is then linked to the final
// name, or renamed over it when overwriting is allowed; the directory is
// synced last. A crash leaves the old file or the new one, and at worst a
// stray `<name>.tmp.<pid>`, never a half-written key. Without `overwrite` an
// existing file is never replaced, even by a concurrent writer (link(2)
// fails on an existing name).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tls/openssl.h"

namespace paxlock::tls {

// PEM files are small; anything larger is refused before it is parsed.
constexpr size_t kPemFileBytesMax = 1 << 20;

// The file's bytes; `what` names it in errors ("CA file", "key file").
Result<std::string> read_small_file(const std::string& path, std::string_view what);
// Every certificate of a PEM text (at least one).
Result<std::vector<X509Ptr>> certificates_from_pem(const std::string& pem, const std::string& path,
                                                   std::string_view what);
Result<PkeyPtr> private_key_from_pem(const std::string& pem, const std::string& path);

std::string certificate_pem(X509* cert);
std::string private_key_pem(EVP_PKEY* key);  // PKCS#8, unencrypted

Status write_file_atomically(const std::string& path, std::string_view bytes, mode_t mode,
                             bool overwrite);
bool file_exists(const std::string& path);

}  // namespace paxlock::tls
