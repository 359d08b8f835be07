import CFlowsentryRecord
import FlowsentryCapture
import FlowsentryCore
import Testing

/// The capture settings live in Core, apart from the header they describe: they must agree.
@Suite struct CaptureSettingsTests {
  @Test func coreKnowsTheKernelsDNSPortLimit() {
    #expect(CaptureConfiguration.maximumDNSPorts == Int(FS_DNS_PORTS_MAX))
    #expect(CaptureSession.maximumDNSPorts == CaptureConfiguration.maximumDNSPorts)
  }
}
