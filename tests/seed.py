"""Small directory data sets shared by the end-to-end tests."""

DEPARTMENTS = """部门编码,部门名称
MZJ,县民政局
SCJG,县市场监管局
WLJ,县文化和旅游局 <文旅> & 😀
"""

INSPECTORS = """姓名,所属部门编码,执法证号,证件有效期至,专业领域
张<三>&😀,SCJG,13010001,2028-12-31,食品安全、特种设备
李四,SCJG,13010002,2027-06-30,价格监管
王五,MZJ,13020001,2028-01-01,养老服务
"""
