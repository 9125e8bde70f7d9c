"""The operators a loaded model may call: an allow-list, checked by :mod:`dustbench.safe_torch`
on TorchScript graphs and ``torch.export`` programs before a model runs."""
from __future__ import annotations

# What a restoration network may call (aten/prims names; an in-place ``name_`` counts as ``name``):
# tensor maths, convolution, normalisation, activations, resampling, pooling, padding, shapes and
# indexing, reductions, and the scalar/list/string ops TorchScript needs for its own control flow.
# Everything else is refused, so a new operator that touches files (aten::from_file, aten::save),
# shared memory, processes, threads (fork) or an extension library cannot slip through.
ALLOWED_OPS = frozenset("""
add sub rsub mul div true_divide floor_divide floordiv remainder fmod neg abs pow sqrt rsqrt exp exp2
expm1 log log2 log10 log1p sin cos tan tanh sinh cosh asin acos atan atan2 sigmoid reciprocal sign sgn
floor ceil round trunc frac square lerp addcmul addcdiv erf erfc erfinv hypot logit xlogy nan_to_num
clamp clamp_min clamp_max clip maximum minimum fmax fmin max min where masked_fill lt le gt ge eq ne
logical_and logical_or logical_not logical_xor bitwise_and bitwise_or bitwise_not bitwise_xor
__and__ __or__ __xor__ __not__ __is__ __isnot__ __contains__ __getitem__ _set_item __range_length
__derive_index isnan isinf isfinite any all
relu relu6 leaky_relu prelu _prelu_kernel rrelu elu selu celu gelu silu mish hardtanh hardsigmoid
hardswish softplus softsign softmax log_softmax _softmax _log_softmax threshold glu tanhshrink
hardshrink softshrink log_sigmoid log_sigmoid_forward
conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d convolution _convolution
linear matmul mm bmm addmm baddbmm addmv mv dot einsum t
batch_norm instance_norm layer_norm group_norm native_batch_norm native_layer_norm native_group_norm
_native_batch_norm_legit _native_batch_norm_legit_no_training _native_batch_norm_legit_functional
norm linalg_vector_norm frobenius_norm rms_norm
dropout feature_dropout alpha_dropout feature_alpha_dropout native_dropout bernoulli rand rand_like
randn randn_like normal uniform
upsample_nearest1d upsample_nearest2d upsample_nearest3d _upsample_nearest_exact1d
_upsample_nearest_exact2d _upsample_nearest_exact3d upsample_linear1d upsample_bilinear2d
upsample_bicubic2d upsample_trilinear3d _upsample_bilinear2d_aa _upsample_bicubic2d_aa _upsample_lanczos2d_aa __interpolate
grid_sampler grid_sampler_2d affine_grid_generator pixel_shuffle pixel_unshuffle
max_pool1d max_pool2d max_pool3d max_pool1d_with_indices max_pool2d_with_indices
max_pool3d_with_indices max_unpool2d max_unpool3d avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d
adaptive_avg_pool2d adaptive_avg_pool3d _adaptive_avg_pool2d adaptive_max_pool1d adaptive_max_pool2d
pad constant_pad_nd reflection_pad1d reflection_pad2d reflection_pad3d replication_pad1d
replication_pad2d replication_pad3d _pad_circular _pad_enum
size sym_size sym_numel sym_stride sym_storage_offset dim numel stride view reshape view_as reshape_as
_unsafe_view flatten unflatten squeeze unsqueeze permute transpose contiguous expand
expand_as repeat repeat_interleave tile cat concat concatenate stack split split_with_sizes
tensor_split chunk unbind narrow slice select index index_select gather scatter scatter_add
index_put index_add masked_select alias clone detach to type_as _to_copy copy zeros zeros_like ones
ones_like full full_like new_zeros new_ones new_full arange linspace
meshgrid flip roll rot90 tril triu movedim moveaxis swapaxes fill zero lift_fresh lift_fresh_copy
view_copy expand_copy permute_copy slice_copy select_copy squeeze_copy unsqueeze_copy transpose_copy
alias_copy unbind_copy split_copy split_with_sizes_copy unfold im2col col2im scalar_tensor tensor
item _local_scalar_dense sum mean prod std var var_mean std_mean amax amin argmax argmin cumsum cumprod
sort topk median logsumexp
is_floating_point is_contiguous device dtype layout requires_grad len append extend insert pop list
format str warn Int Float Bool ScalarImplicit IntImplicit FloatImplicit ImplicitTensorToNum
NumToTensor _assert_async _assert_scalar sym_constrain_range sym_constrain_range_for_size
_check_is_size convert_element_type broadcast_in_dim
""".split())
# TorchScript's own interpreter nodes: constants, attributes, control flow, lists, tuples, dicts.
ALLOWED_PRIM = frozenset("""
Constant GetAttr SetAttr If Loop ListConstruct ListUnpack TupleConstruct TupleUnpack TupleIndex
TupleSlice DictConstruct DictIndex RaiseException Uninitialized unchecked_cast unchecked_unwrap_optional
isinstance min max abs device dtype layout shape NumToTensor is_cuda requires_grad data Print
AutogradZero type
""".split())
# torch.export higher-order operators that only run subgraphs of the same program.
ALLOWED_HIGHER_ORDER = frozenset({"cond", "while_loop", "map_impl", "wrap_with_set_grad_enabled",
                                   "wrap_with_autocast"})


def allowed_op(namespace: str, name: str) -> bool:
    if namespace == "prim":
        return name in ALLOWED_PRIM
    if namespace not in ("aten", "prims"):
        return False
    # an in-place variant (relu_) does what its out-of-place one does, to a tensor in memory
    return name in ALLOWED_OPS or (name.endswith("_") and not name.endswith("__") and name[:-1] in ALLOWED_OPS)
