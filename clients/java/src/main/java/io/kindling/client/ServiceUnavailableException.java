package io.kindling.client;

import io.grpc.Status;
import java.nio.file.Path;

/**
 * The service could not be reached (a stale socket left by a stopped service,
 * say), or went away during the call: UNAVAILABLE, or CANCELLED when the
 * service, not the client, ended the call. {@link #started()} tells the two
 * apart.
 */
public final class ServiceUnavailableException extends RequestFailedException {
  private static final long serialVersionUID = 1L;

  private final boolean started;

  ServiceUnavailableException(
      Status status, Path socket, boolean started, String reason, Throwable cause) {
    super(message(socket, started, reason), status, socket, cause);
    this.started = started;
  }

  /** False when the client never reached the service, true when it stopped during the call. */
  public boolean started() {
    return started;
  }

  private static String message(Path socket, boolean started, String reason) {
    return started
        ? "the kindling probe service at " + socket + " stopped (" + reason + ")"
        : "the kindling probe service is not reachable at " + socket + " (" + reason + ")";
  }
}
