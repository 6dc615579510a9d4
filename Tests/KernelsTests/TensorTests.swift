import Testing
import Kernels

@Test func tensorReshapeKeepsElements() {
    var t = Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6])
    t.reshape(to: [3, 2])
    #expect(t[2, 1] == 6)
}

@Test func resizeKeepsStorageWhenTheCountIsUnchanged() {
    var t = Tensor(shape: [2, 3, 4, 5], repeating: 1)
    t.resize(4, 3, 2, 5)
    #expect(t.shape == [4, 3, 2, 5] && t.count == 120 && t.storage.allSatisfy { $0 == 1 })
    t.resize(2, 2)
    #expect(t.shape == [2, 2] && t.count == 4)
}
