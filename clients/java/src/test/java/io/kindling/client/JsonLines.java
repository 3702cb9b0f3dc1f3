package io.kindling.client;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A command's output lines (kindling events -o json, kindling-events -o json), read as they come. */
final class JsonLines {
  private final Process process;
  private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

  private JsonLines(Process process) {
    this.process = process;
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader in =
                  new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                  lines.add(line);
                }
              } catch (IOException e) {
                // the process was stopped
              }
            });
    reader.setDaemon(true);
    reader.start();
  }

  static JsonLines start(String program, List<String> args) throws IOException {
    List<String> command = new ArrayList<>(List.of(program));
    command.addAll(args);
    return new JsonLines(new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start());
  }

  /** The first {@code count} lines, then the command is stopped. */
  List<String> first(int count, Duration within) throws InterruptedException {
    List<String> got = new ArrayList<>();
    long deadline = System.nanoTime() + within.toNanos();
    try {
      while (got.size() < count) {
        String line = lines.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        if (line == null) {
          fail(process.info().command().orElse("the command") + " printed " + got.size() + " of " + count + " lines: " + got);
        }
        got.add(line);
      }
      return got;
    } finally {
      process.destroy();
      process.waitFor(5, TimeUnit.SECONDS);
    }
  }
}
