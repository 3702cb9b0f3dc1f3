package io.kindling.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The example collector, run as a user runs it (its own JVM), finding the
 * service through $KINDLING_SOCKET.
 */
class CountEventsTest {
  @TempDir Path directory;

  static Process start(Map<String, String> env, String... args) throws IOException {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    ProcessBuilder builder =
        new ProcessBuilder(
            java.toString(), "-cp", System.getProperty("java.class.path"),
            "io.kindling.client.example.CountEvents");
    builder.command().addAll(List.of(args));
    builder.environment().putAll(env);
    return builder.start();
  }

  @Test
  void countsTheRecordingsEventsByName() throws Exception {
    Recordings sample = Recordings.read(ProbeService.SAMPLE);
    try (ProbeService service = ProbeService.replay(directory, ProbeService.SAMPLE)) {
      Process process =
          start(Map.of(KindlingClient.SOCKET_ENV, service.socket.toString()), "--seconds", "2", "read", "close");
      String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
      assertEquals(0, process.waitFor(), err);
      assertEquals("", err, "nothing on stderr: no warning, no trace");
      Map<String, Long> expected =
          sample.events().stream()
              .map(e -> e.getName())
              .filter(n -> n.equals("read") || n.equals("close"))
              .collect(Collectors.groupingBy(Function.identity(), Collectors.counting()));
      String[] lines = out.strip().split("\n");
      long total = expected.values().stream().mapToLong(Long::longValue).sum();
      assertEquals("total: " + total + " events, 0 lost", lines[lines.length - 1]);
      String last = lines[lines.length - 2];
      assertTrue(
          last.endsWith(" close=" + expected.get("close") + " read=" + expected.get("read") + " lost=0"),
          out);
    }
  }

  @Test
  void noServiceIsOneSentenceAndExitCodeOne() throws Exception {
    Path missing = directory.resolve("none.sock");
    Process process = start(Map.of(KindlingClient.SOCKET_ENV, missing.toString()));
    String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(1, process.waitFor());
    assertEquals(
        "count-events: no kindling probe service at " + missing
            + ": the socket does not exist; start the service with \"kindling-probe serve\"\n",
        err);
  }
}
