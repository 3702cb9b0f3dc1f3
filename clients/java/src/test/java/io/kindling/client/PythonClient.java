package io.kindling.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.kindling.event.v1.Event;
import io.kindling.probe.v1.SubscribeRequest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The Python client (clients/python, from the worktree's .venv) subscribing
 * in a process of its own; its events come back as serialized protobuf, so
 * they are compared with the Java client's field by field.
 */
final class PythonClient {
  private static final String SCRIPT =
      String.join(
          "\n",
          "import sys",
          "from kindling.client import ProbeClient",
          "from kindling.probe.v1 import probe_pb2",
          "socket, request, count, exit_pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])",
          "request = probe_pb2.SubscribeRequest.FromString(bytes.fromhex(request))",
          "n = 0",
          "with ProbeClient(socket) as client, client.subscribe(request, timeout=30) as stream:",
          "    for response in stream:",
          "        for event in response.events:",
          "            print(event.SerializeToString().hex(), flush=True)",
          "            n += 1",
          "            if n == count or (event.name == 'process_exit' and event.thread.pid == exit_pid):",
          "                sys.exit(0)");

  private final Process process;

  private PythonClient(Process process) {
    this.process = process;
  }

  /**
   * Subscribes with {@code request} until {@code count} events (0: no limit)
   * or the process_exit of {@code exitPid} (0: none).
   */
  static PythonClient subscribe(Path socket, SubscribeRequest request, int count, long exitPid)
      throws IOException {
    Path python = ProbeService.PROBE.resolveSibling("python");
    return new PythonClient(
        new ProcessBuilder(
                python.toString(), "-c", SCRIPT, socket.toString(),
                HexFormat.of().formatHex(request.toByteArray()),
                Integer.toString(count), Long.toString(exitPid))
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start());
  }

  /** The events the Python client received, once it has finished. */
  List<Event> events() throws IOException, InterruptedException {
    String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
    assertEquals(0, process.waitFor(), "the Python client failed");
    List<Event> events = new ArrayList<>();
    for (String line : out.split("\n")) {
      if (!line.isEmpty()) {
        events.add(Event.parseFrom(HexFormat.of().parseHex(line)));
      }
    }
    return events;
  }
}
