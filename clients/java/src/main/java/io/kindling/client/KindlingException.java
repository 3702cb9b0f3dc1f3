package io.kindling.client;

/**
 * The base class of every error the kindling client raises on purpose.
 * Unchecked, like gRPC's own, because an event {@link java.util.Iterator}
 * cannot throw checked exceptions.
 */
public class KindlingException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  KindlingException(String message, Throwable cause) {
    super(message, cause);
  }
}
