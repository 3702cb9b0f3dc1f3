package io.kindling.client;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The real service, {@code kindling-probe serve}, started on a socket in a
 * temporary directory: the worktree's command (system property
 * kindling.probe, set by the build), never a fake.
 */
final class ProbeService implements AutoCloseable {
  static final Path PROBE = Path.of(System.getProperty("kindling.probe", "kindling-probe"));
  static final Path SAMPLE = Path.of(System.getProperty("kindling.sample", "sample.kindling"));

  final Path socket;
  final Path log;
  private final Process process;

  private ProbeService(Path directory, List<String> args) throws IOException {
    socket = directory.resolve("kindling.sock");
    log = directory.resolve("service.log");
    List<String> command = new ArrayList<>(List.of(PROBE.toString(), "serve", "--socket", socket.toString()));
    command.addAll(args);
    process =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
  }

  /** A service replaying {@code recording} as fast as it can. */
  static ProbeService replay(Path directory, Path recording) throws IOException {
    return start(directory, List.of("--replay", recording.toString(), "--speed", "max"), Duration.ofSeconds(30));
  }

  /** A service on the real kernel (root only). */
  static ProbeService kernel(Path directory) throws IOException {
    return start(directory, List.of(), Duration.ofSeconds(60));
  }

  private static ProbeService start(Path directory, List<String> args, Duration timeout)
      throws IOException {
    ProbeService service = new ProbeService(directory, args);
    try {
      service.awaitAnswering(timeout);
    } catch (RuntimeException | Error e) {
      service.close();
      throw e;
    }
    return service;
  }

  /** Waits until GetInfo answers on the socket. */
  private void awaitAnswering(Duration timeout) {
    Instant deadline = Instant.now().plus(timeout);
    while (Instant.now().isBefore(deadline)) {
      if (!process.isAlive()) {
        throw new AssertionError("kindling-probe exited with " + process.exitValue() + ":\n" + log());
      }
      if (Files.exists(socket)) {
        try (KindlingClient client = KindlingClient.connect(socket)) {
          client.getInfo(Duration.ofSeconds(1));
          return;
        } catch (KindlingException e) {
          // not serving yet
        }
      }
      sleep(50);
    }
    throw new AssertionError("kindling-probe did not answer in " + timeout + ":\n" + log());
  }

  String log() {
    try {
      return Files.readString(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  /** Kills the service (SIGKILL), as a crash would end it. */
  void kill() throws InterruptedException {
    process.destroyForcibly().waitFor();
  }

  /** Stops the service as a user would (SIGTERM) and waits for it. */
  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(15, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor();
        throw new AssertionError("kindling-probe ignored SIGTERM:\n" + log());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
