/*
 * Compile-time frame for one class of the runtime's loopback fix. Only the nested class
 * ServerFactory$InetSocketAddressServerFactory is packaged (runtime/loopback/build.sh); the outer class and
 * the other nested types are the ones of the flink-python jar the cluster runs, so their declarations here
 * only need to match its signatures for javac.
 *
 * Why: Flink's Python runner (Apache Beam's fn-execution, vendored in flink-python) starts a gRPC server for
 * the control, data, state and logging channels of every Python worker. Beam computes a loopback address for
 * each server and hands it to the worker, but then builds the server with NettyServerBuilder.forPort(port),
 * which listens on every interface: any host that reaches a TaskManager could talk to those channels.
 * This class builds the server with NettyServerBuilder.forAddress(address), the address it was given, which
 * is loopback for every server the runner allocates. Nothing else changes.
 */
package org.apache.beam.sdk.fn.server;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.beam.model.pipeline.v1.Endpoints;
import org.apache.beam.sdk.fn.channel.SocketAddressFactory;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.BindableService;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.Server;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.ServerInterceptors;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.netty.NettyServerBuilder;

public abstract class ServerFactory {
  /** Seconds a client may wait between keep-alive pings (the runner's own value). */
  static final int PERMIT_KEEP_ALIVE_SEC = 19;

  public abstract Server allocateAddressAndCreate(
      List<BindableService> services, Endpoints.ApiServiceDescriptor.Builder descriptor) throws IOException;

  public abstract Server create(List<BindableService> services, Endpoints.ApiServiceDescriptor descriptor)
      throws IOException;

  /** Declared for javac only (the runtime's own interface is used). */
  public interface UrlFactory {
    String createUrl(String address, int port);
  }

  /** Host:port servers, listening on the address they are given and nowhere else. */
  public static class InetSocketAddressServerFactory extends ServerFactory {
    private final UrlFactory urlFactory;
    private final Supplier<Integer> portSupplier;

    private InetSocketAddressServerFactory(UrlFactory urlFactory) {
      this(urlFactory, () -> 0);
    }

    private InetSocketAddressServerFactory(UrlFactory urlFactory, Supplier<Integer> portSupplier) {
      this.urlFactory = urlFactory;
      this.portSupplier = portSupplier;
    }

    @Override
    public Server allocateAddressAndCreate(
        List<BindableService> services, Endpoints.ApiServiceDescriptor.Builder descriptor) throws IOException {
      InetSocketAddress address = new InetSocketAddress(InetAddress.getLoopbackAddress(), portSupplier.get());
      Server server = createServer(services, address);
      descriptor.setUrl(urlFactory.createUrl(address.getHostName(), server.getPort()));
      return server;
    }

    @Override
    public Server create(List<BindableService> services, Endpoints.ApiServiceDescriptor descriptor)
        throws IOException {
      SocketAddress address = SocketAddressFactory.createFrom(descriptor.getUrl());
      if (!(address instanceof InetSocketAddress)) {
        throw new IllegalArgumentException(
            "InetSocketAddressServerFactory requires a host:port socket address, got " + descriptor.getUrl());
      }
      return createServer(services, (InetSocketAddress) address);
    }

    private static Server createServer(List<BindableService> services, InetSocketAddress address)
        throws IOException {
      NettyServerBuilder builder =
          NettyServerBuilder.forAddress(address)
              .maxInboundMessageSize(Integer.MAX_VALUE)
              .permitKeepAliveTime(PERMIT_KEEP_ALIVE_SEC, TimeUnit.SECONDS);
      for (BindableService service : services) {
        builder.addService(
            ServerInterceptors.intercept(service, GrpcContextHeaderAccessorProvider.interceptor()));
      }
      return builder.build().start();
    }
  }
}
