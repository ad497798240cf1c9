#include "net/stream.h"

#include "common/check.h"

namespace paxlock::net {

Stream::Stream(tcp::socket socket, tls::ContextPtr context)
    : context_(std::move(context)), plain_(std::move(socket)) {
  PAXLOCK_CHECK(context_ != nullptr);
}

asio::awaitable<asio::error_code> Stream::wait_readable() {
  asio::error_code ec;
  co_await socket().async_wait(tcp::socket::wait_read,
                               asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return ec;
  // Readable with nothing to read: it closed without a byte.
  if (socket().available(ec) == 0 && !ec) co_return asio::error::eof;
  co_return ec;
}

asio::awaitable<asio::error_code> Stream::handshake(asio::ssl::stream_base::handshake_type type) {
  PAXLOCK_CHECK(context_ != nullptr);
  PAXLOCK_CHECK(tls_ == nullptr);
  asio::error_code ec;
  tls_ = std::make_unique<TlsStream>(std::move(*plain_), *context_);
  plain_.reset();
  // OpenSSL frees its record buffers while a connection is idle.
  SSL_set_mode(tls_->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  co_await tls_->async_handshake(type, asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) handshake_done_ = true;
  co_return ec;
}

tls::X509Ptr Stream::peer_certificate() {
  if (!tls_ || !handshake_done_) return nullptr;
  return tls::peer_certificate(tls_->native_handle());
}

std::string Stream::handshake_failure(const asio::error_code& ec) const {
  std::string text = tls_error_text(ec);
  if (!tls_) return text;
  const long verdict = SSL_get_verify_result(const_cast<TlsStream&>(*tls_).native_handle());
  if (verdict != X509_V_OK) text += std::string(": ") + X509_verify_cert_error_string(verdict);
  return text;
}

size_t Stream::tls_pending() const {
  if (!tls_) return 0;
  const int n = SSL_pending(const_cast<TlsStream&>(*tls_).native_handle());
  return n > 0 ? static_cast<size_t>(n) : 0;
}

asio::awaitable<size_t> Stream::read_some(asio::mutable_buffer buffer, asio::error_code& ec) {
  if (!handshake_done()) {  // TLS bytes are never read as plain ones
    ec = asio::error::not_connected;
    co_return 0;
  }
  if (tls_) {
    co_return co_await tls_->async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return co_await plain_->async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> Stream::write(const std::vector<asio::const_buffer>& buffers,
                                    asio::error_code& ec) {
  if (!handshake_done()) {  // nothing goes out in the clear on a TLS stream
    ec = asio::error::not_connected;
    co_return;
  }
  if (tls_) {
    // Asio's SSL write_some (1.22) gathers the buffers into one of up to
    // 8 KiB per record: small frames share records and write(2)s
    // (TlsConnection.QueuedFramesLeaveInRecordsOf8KibNotOneEach).
    co_await asio::async_write(*tls_, buffers, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(*plain_, buffers, asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace paxlock::net
