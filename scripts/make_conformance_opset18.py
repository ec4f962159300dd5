#!/usr/bin/python3
"""ONNX node tests for opset-18 features that ONNX 1.12's generator (the one Debian ships,
which made test/conformance/onnx-node) cannot produce: ScatterND and ScatterElements with
reduction='max' / 'min'. The cases are the ones later ONNX releases add under the same
names (test_scatternd_max, test_scatter_elements_with_reduction_min, ...), with their
expected outputs from the NumPy reference below, written in the same layout (model.onnx,
test_data_set_0/input_K.pb, output_0.pb).

    python3 scripts/make_conformance_opset18.py [OUT_DIR]   # default test/conformance/onnx-node

Needs python3-onnx and python3-numpy (Debian's).
"""

import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'test', 'conformance', 'onnx-node')
COMBINE = {'max': np.maximum, 'min': np.minimum}


def scatter_nd(data, indices, updates, reduction):
    out = np.copy(data)
    for i in np.ndindex(indices.shape[:-1]):
        idx = tuple(indices[i])
        out[idx] = COMBINE[reduction](out[idx], updates[i])
    return out


def scatter_elements(data, indices, updates, axis, reduction):
    out = np.copy(data)
    for i in np.ndindex(indices.shape):
        target = list(i)
        target[axis] = indices[i]
        target = tuple(target)
        out[target] = COMBINE[reduction](out[target], updates[i])
    return out


def write(name, op, attrs, inputs, output):
    names = ['data', 'indices', 'updates']
    node = helper.make_node(op, inputs=names, outputs=['y'], **attrs)
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info(n, onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype], a.shape) for n, a in zip(names, inputs)],
        [helper.make_tensor_value_info('y', onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[output.dtype], output.shape)],
    )
    model = helper.make_model(graph, producer_name='backend-test', opset_imports=[helper.make_opsetid('', 18)])
    model.ir_version = 8
    d = os.path.join(OUT, name)
    os.makedirs(os.path.join(d, 'test_data_set_0'), exist_ok=True)
    with open(os.path.join(d, 'model.onnx'), 'wb') as f:
        f.write(model.SerializeToString())
    for k, a in enumerate(inputs):
        with open(os.path.join(d, 'test_data_set_0', f'input_{k}.pb'), 'wb') as f:
            f.write(numpy_helper.from_array(a, names[k]).SerializeToString())
    with open(os.path.join(d, 'test_data_set_0', 'output_0.pb'), 'wb') as f:
        f.write(numpy_helper.from_array(output, 'y').SerializeToString())


nd_data = np.array(
    [[[1, 2, 3, 4], [5, 6, 7, 8], [8, 7, 6, 5], [4, 3, 2, 1]],
     [[1, 2, 3, 4], [5, 6, 7, 8], [8, 7, 6, 5], [4, 3, 2, 1]],
     [[8, 7, 6, 5], [4, 3, 2, 1], [1, 2, 3, 4], [5, 6, 7, 8]],
     [[8, 7, 6, 5], [4, 3, 2, 1], [1, 2, 3, 4], [5, 6, 7, 8]]], dtype=np.float32)
nd_indices = np.array([[0], [0]], dtype=np.int64)
nd_updates = np.array(
    [[[5, 5, 5, 5], [6, 6, 6, 6], [7, 7, 7, 7], [8, 8, 8, 8]],
     [[1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3], [4, 4, 4, 4]]], dtype=np.float32)
el_data = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]], dtype=np.float32)
el_indices = np.array([[1, 1]], dtype=np.int64)
el_updates = np.array([[1.1, 2.1]], dtype=np.float32)

for r in ['max', 'min']:
    write(f'test_scatternd_{r}', 'ScatterND', {'reduction': r}, [nd_data, nd_indices, nd_updates], scatter_nd(nd_data, nd_indices, nd_updates, r))
    write(f'test_scatter_elements_with_reduction_{r}', 'ScatterElements', {'axis': 1, 'reduction': r},
          [el_data, el_indices, el_updates], scatter_elements(el_data, el_indices, el_updates, 1, r))
print(f'wrote 4 tests to {OUT}')
