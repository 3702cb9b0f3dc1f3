package io.kindling.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Connecting: the socket checks, the transport, and what an unreachable service gives. */
class ConnectTest {
  @TempDir Path directory;

  @Test
  void noSocketAtThePathIsServiceNotFound() {
    Path missing = directory.resolve("missing.sock");
    ServiceNotFoundException e =
        assertThrows(ServiceNotFoundException.class, () -> KindlingClient.connect(missing));
    assertEquals(missing, e.socket());
    assertEquals(
        "no kindling probe service at " + missing
            + ": the socket does not exist; start the service with \"kindling-probe serve\"",
        e.getMessage());
  }

  @Test
  void aPathThatIsNoSocketIsServiceNotFound() throws IOException {
    Path file = Files.writeString(directory.resolve("file"), "not a socket");
    ServiceNotFoundException e =
        assertThrows(ServiceNotFoundException.class, () -> KindlingClient.connect(file));
    assertTrue(e.getMessage().endsWith("the path exists but is not a unix socket"), e.getMessage());
  }

  @Test
  void aStaleSocketIsServiceUnavailableBeforeTheCallStarted() throws IOException {
    // A socket file nobody listens on any more, as a stopped service leaves it.
    Path stale = directory.resolve("stale.sock");
    try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      server.bind(UnixDomainSocketAddress.of(stale));
    }
    try (KindlingClient client = KindlingClient.connect(stale)) {
      ServiceUnavailableException e =
          assertThrows(ServiceUnavailableException.class, () -> client.getInfo(Duration.ofSeconds(5)));
      assertFalse(e.started(), "the client never reached a service");
      assertTrue(
          e.getMessage().startsWith("the kindling probe service is not reachable at " + stale),
          e.getMessage());
      assertTrue(e.getMessage().contains("Connection refused"), e.getMessage());
    }
  }

  @Test
  void theTransportIsEpollFromTheShadedNetty() {
    assertTrue(Epoll.isAvailable(), () -> "epoll unavailable: " + Epoll.unavailabilityCause());
  }

  @Test
  void connectingAndCallingLogsNoWarning() throws IOException {
    List<LogRecord> warnings = new ArrayList<>();
    Handler handler =
        new Handler() {
          @Override
          public void publish(LogRecord record) {
            if (record.getLevel().intValue() >= Level.WARNING.intValue()) {
              synchronized (warnings) {
                warnings.add(record);
              }
            }
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    Logger root = Logger.getLogger("");
    root.addHandler(handler);
    try (ProbeService service = ProbeService.replay(directory, ProbeService.SAMPLE);
        KindlingClient client = KindlingClient.connect(service.socket)) {
      assertEquals("replay", client.getInfo(Duration.ofSeconds(10)).getDriver().getName());
    } finally {
      root.removeHandler(handler);
    }
    synchronized (warnings) {
      assertEquals(
          List.of(),
          warnings.stream().map(r -> r.getLoggerName() + ": " + r.getMessage()).toList());
    }
  }
}
